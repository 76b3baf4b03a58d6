"""Sphinx extension: let one setting, ``repository.url`` in ``_config.yml``, drive the buttons.

sphinx-book-theme fails the build when launch buttons (Binder, Colab) are configured but no
repository address is set. This extension runs when the configuration is read: without an
address it switches the launch and repository buttons off; with one it switches them on, so a
maintainer only ever edits ``repository.url``.
"""

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


def setup(app):
    app.connect("config-inited", _configure)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
