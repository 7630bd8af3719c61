"""The caseworker web app: server-rendered pages that speak to the network only through
the public API, as the signed-in person."""
