"""Documents the service prints or hands out: workbooks, reports, posters, questionnaires."""
