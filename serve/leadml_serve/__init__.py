"""leadml's scoring service: a FastAPI app over the one `leadml.scoring.Scorer`.

`leadml_serve.app.create_app(config)` builds the app; nothing happens at import.
"""
