"""SKM service: Survei Kepuasan Masyarakat (PermenPAN-RB 14/2017)."""
