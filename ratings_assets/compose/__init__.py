"""The Compose deployment (docker/): an engine, a base image, the project's images, the stack.

Entry points: `python -m ratings_assets.compose up|down|clean` (make docker-up, docker-down,
docker-clean); the docker test uses `engine`, `images` and `stack` directly.
"""
