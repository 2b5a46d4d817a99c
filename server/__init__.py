"""Heedful server: HTTP API for agents and integrations, web console, ingestion and detection."""
