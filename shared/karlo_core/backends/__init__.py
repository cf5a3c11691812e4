"""Generation backends: what turns a job's checked request into images.

:mod:`.base` is the seam (a request in, images with their seeds out, and what each backend declares about
itself); :mod:`.karlo` is hosted Karlo over its REST API; :mod:`.open_karlo` runs Kakao Brain's open Karlo
weights on the worker's own device; :mod:`.catalogue` names them and what each accepts.
"""
