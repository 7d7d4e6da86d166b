"""The operator's HMI (``cellctl gui``): a PySide6 + pyqtgraph client of the controller's OPC UA
server. It owns nothing but the screen; it may lag or crash without touching the controller."""

from cellctl.gui.refcount_guard import make_singletons_immortal

make_singletons_immortal()
