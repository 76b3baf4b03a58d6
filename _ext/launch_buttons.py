"""Sphinx extension: let one setting, ``repository.url`` in ``_config.yml``, drive the buttons.

sphinx-book-theme fails the build when launch buttons (Binder, Colab) are configured but no
repository address is set. This extension runs when the configuration is read: without an
address it switches the launch and repository buttons off; with one it switches them on, so a
maintainer only ever edits ``repository.url``.

It also drops the live-code (thebe) assets while no launch button uses them. Jupyter Book always
loads ``sphinx_thebe``, which writes a configuration script (a CDN address for thebe), a
``text/x-thebe-config`` block naming a default Binder repository, ``sphinx-thebe.js`` and
``sphinx-thebe.css`` into every page, used by nothing unless ``launch_buttons.thebe`` is true.
When it is not, sphinx-thebe's two page hooks are disconnected and its stylesheet unregistered.
"""

THEBE_HOOKS = ("init_thebe_core", "update_thebe_context")
LAUNCH_KEYS = ("binderhub_url", "colab_url", "jupyterhub_url", "deepnote_url", "thebe")


def _configure(app, config):
    options = config.html_theme_options
    has_url = bool(options.get("repository_url"))
    for key in ("use_repository_button", "use_issues_button", "use_source_button"):
        options[key] = has_url
    if not has_url:
        launch = dict(options.get("launch_buttons") or {})
        for key in LAUNCH_KEYS:
            launch.pop(key, None)
        options["launch_buttons"] = launch
    if not (options.get("launch_buttons") or {}).get("thebe"):
        _drop_thebe(app)


def _drop_thebe(app):
    """Disconnect sphinx-thebe's asset and per-page hooks; unregister its stylesheet."""
    for event in ("env-before-read-docs", "doctree-resolved"):
        listeners = app.events.listeners.get(event, [])
        listeners[:] = [
            listener
            for listener in listeners
            if getattr(listener.handler, "__name__", "") not in THEBE_HOOKS
            or getattr(listener.handler, "__module__", "") != "sphinx_thebe"
        ]
    app.registry.css_files[:] = [
        (filename, attrs)
        for filename, attrs in app.registry.css_files
        if filename != "sphinx-thebe.css"
    ]


def setup(app):
    app.connect("config-inited", _configure)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
