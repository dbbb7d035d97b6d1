#pragma once

// close_window: what a window manager's close button does, for the GUI test (Xlib's macros
// stay in x11_close.cc, away from GoogleTest's names).

#include <string>

namespace sightglass::test {

// close_window sends |window| on |display| a WM_PROTOCOLS client message carrying
// WM_DELETE_WINDOW; false if the display cannot be opened or the event not sent.
bool close_window(const std::string& display, unsigned long window);

}  // namespace sightglass::test
