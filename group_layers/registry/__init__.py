"""group-layers-registry: a pull-only Docker Registry HTTP API v2 / OCI
Distribution server that builds images on demand, as Nixery does.

``docker pull HOST/shell/git:latest`` reads the repository name as a list of
packages (``names``), picks the package set's revision from the tag
(``sources``), builds the image with this project's ``nixery-build-image``
wrapper (``builds``), keeps its blobs and manifests in a content-addressed
folder (``storage``) and serves them (``server``).  ``manifests`` turns the
Docker schema2 manifest the toolkit builds into its OCI equivalent;
``metrics`` counts for ``/metrics``; ``config`` reads flags and Nixery's
environment variables.

aiohttp is this package's only extra dependency (``pip install
.[registry]``); the engine (``group_layers`` outside this package) never
imports it.
"""
