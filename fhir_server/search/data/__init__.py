"""Generated search tables (see scripts/generate_search_registry.py); data only."""
