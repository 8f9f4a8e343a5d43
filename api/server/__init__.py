"""The OGC API server: pygeoapi configuration, provider and process plugins, auth, the app."""
