"""The Streamlit app: `main` (router), `views/` (one thin script per page), `page` (the prologue every
view shares), `services` (the composition root, cached resources), `queries` (cached reads), and
components and charts. The only package that imports streamlit; it drives `pipelines.jobs` and
`pipelines.reads`, never the CLI. Nothing imports the app."""
