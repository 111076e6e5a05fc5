"""Gateway routes: the proxy for every contract route."""
