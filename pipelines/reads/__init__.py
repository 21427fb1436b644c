"""Read models: what the app's pages and the CLI show. They read the lakehouse and the registry and
never write; every verdict comes from `governance`. Imported by jobs, cli and the app."""
