"""HTTP routers, one module per surface: administration, collection, reading."""
