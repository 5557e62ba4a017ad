"""The observatory: the programme's public figures as API, CSV and server-side SVG charts."""
