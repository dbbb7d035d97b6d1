#include "tests/gui/x11_close.h"

#include <X11/Xlib.h>

namespace sightglass::test {

bool close_window(const std::string& display, unsigned long window) {
  Display* dpy = XOpenDisplay(display.c_str());
  if (dpy == nullptr) {
    return false;
  }
  XEvent event{};
  event.xclient.type = ClientMessage;
  event.xclient.window = window;
  event.xclient.message_type = XInternAtom(dpy, "WM_PROTOCOLS", False);
  event.xclient.format = 32;
  event.xclient.data.l[0] = static_cast<long>(XInternAtom(dpy, "WM_DELETE_WINDOW", False));
  event.xclient.data.l[1] = CurrentTime;
  const Status sent = XSendEvent(dpy, window, False, NoEventMask, &event);
  XFlush(dpy);
  XCloseDisplay(dpy);
  return sent != 0;
}

}  // namespace sightglass::test
