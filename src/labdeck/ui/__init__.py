"""The browser side: the dashboard and the JavaScript client, served as static files."""
