"""The Labgrader service: REST API, dashboard pages, auth, persistence and job dispatch."""
