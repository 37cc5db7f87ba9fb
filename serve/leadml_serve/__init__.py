"""leadml's scoring service: a FastAPI app over the one `leadml.scoring.Scorer`.

`serve.app.create_app(settings)` builds the app; nothing happens at import.
"""
