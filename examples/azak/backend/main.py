# The FastAPI app of the azak backend (`backend.main:app`). The example's stand-in uvicorn serves
# a fixed JSON answer instead of importing it, so the example needs no third-party packages.
app = None
