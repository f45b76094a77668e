"""Built-in plugins, each registered through the `lws` entry-point group like any third-party plugin."""
