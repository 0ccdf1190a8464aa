"""Where a widget of a running GTK 4 app is, through its accessibility tree.

  /usr/bin/python3 tests/common/a11y.py ROLE NAME

Walks the AT-SPI tree of the applications on the session bus in
DBUS_SESSION_BUS_ADDRESS and prints "x y width height" of the first
showing accessible with role ROLE (e.g. "button") and name NAME, in the
coordinates of its window, then the window's own size on a second line.
GTK 4 knows no screen positions: the caller places the window. Exits 1 if
no such accessible is showing.
"""
import sys

from gi.repository import Gio, GLib

ROOT = ("org.a11y.atspi.Registry", "/org/a11y/atspi/accessible/root")
ACCESSIBLE = "org.a11y.atspi.Accessible"
COORDS_WINDOW = 1


def a11y_bus():
    session = Gio.bus_get_sync(Gio.BusType.SESSION, None)
    address = session.call_sync(
        "org.a11y.Bus", "/org/a11y/bus", "org.a11y.Bus", "GetAddress", None,
        GLib.VariantType("(s)"), 0, 5000, None).unpack()[0]
    flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
             | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
    return Gio.DBusConnection.new_for_address_sync(address, flags, None, None)


def call(bus, node, interface, method, args, reply):
    return bus.call_sync(node[0], node[1], interface, method, args,
                         GLib.VariantType(reply), 0, 5000, None).unpack()


def name(bus, node):
    return call(bus, node, "org.freedesktop.DBus.Properties", "Get",
                GLib.Variant("(ss)", (ACCESSIBLE, "Name")), "(v)")[0]


def extents(bus, node):
    return call(bus, node, "org.a11y.atspi.Component", "GetExtents",
                GLib.Variant("(u)", (COORDS_WINDOW,)), "((iiii))")[0]


def walk(bus, node, window=None):
    role = call(bus, node, ACCESSIBLE, "GetRoleName", None, "(s)")[0]
    if role in ("frame", "window") and node != ROOT:
        window = node
    yield node, role, window
    children = call(bus, node, ACCESSIBLE, "GetChildren", None, "(a(so))")[0]
    for child in children:
        yield from walk(bus, tuple(child), window)


def main():
    wanted_role, wanted_name = sys.argv[1], sys.argv[2]
    bus = a11y_bus()
    for node, role, window in walk(bus, ROOT):
        if role != wanted_role or name(bus, node) != wanted_name:
            continue
        x, y, width, height = extents(bus, node)
        if width > 0 and height > 0 and window is not None:
            print(x, y, width, height)
            print(*extents(bus, window)[2:])
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
