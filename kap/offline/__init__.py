"""The app on a phone without a network: the web app manifest, the service worker that keeps the
guide, the practices and the person's last Today page on the device, and the rules that keep one
person's pages from ever being shown to another (kap.offline.middleware).

What the service worker keeps, and for whom, is decided here on the server: the worker's source
(kap/templates/offline/sw.js) only follows the headers and the lists this package gives it.
"""
