"""The HTTP service: `python scripts/serve.py`, a FastAPI app under uvicorn.

settings.py   ServeSettings: host, port, models, limits, batching, key
registry.py   the loaded models (`Reader`s), looked up by name, reloaded on request
batching.py   inference off the event loop, concurrent requests batched together
limits.py     the request-size limit, enforced while the body is read
uploads.py    the images of a request: multipart files or JSON base64
labelling.py  labelling a folder of unlabelled captchas from the web page (--label-dir)
background_training.py  "Train now": a fine-tune on the labels in a background process
errors.py     JSON errors with the right status
app.py        `create_app(settings)`: the routes
"""
