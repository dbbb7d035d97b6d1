#include "core/proxy/events.h"

namespace sightglass::core {
namespace {

std::string preview(const std::string& data) {
  constexpr size_t kMax = 60;
  std::string out;
  for (const char c : std::string_view(data).substr(0, kMax)) {
    if (c == '\r' || c == '\n') {
      out += c == '\r' ? "\\r" : "\\n";
    } else {
      out.push_back(c >= 0x20 && c < 0x7f ? c : '.');
    }
  }
  if (data.size() > kMax) {
    out += "...(" + std::to_string(data.size()) + " bytes)";
  }
  return out;
}

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace

std::string describe(const HeldFlow& held) {
  std::string out = held.point == HookPoint::kRequest ? "request " : "response ";
  if (held.flow.request) {
    out += held.flow.request->method + " " + held.flow.request->url();
  }
  if (held.point == HookPoint::kResponse && held.flow.response) {
    out += " -> " + std::to_string(held.flow.response->status);
  }
  out += ", body " + std::to_string(held.body.size()) + (held.body_complete ? "" : "+");
  if (held.kill) {
    out += ", kill";
  }
  if (held.answer) {
    out += ", answer " + std::to_string(held.answer->status);
  }
  return out;
}

std::string describe(const Event& event) {
  return std::visit(
      Overloaded{
          [](const Start&) { return std::string("Start"); },
          [](const DataReceived& e) {
            return "DataReceived(" + std::to_string(e.conn) + ", \"" + preview(e.data) + "\")";
          },
          [](const ConnectionClosed& e) {
            return "ConnectionClosed(" + std::to_string(e.conn) + ", \"" + e.error + "\")";
          },
          [](const OpenCompleted& e) {
            return "OpenCompleted(#" + std::to_string(e.id) + ", conn " + std::to_string(e.conn) +
                   ", \"" + e.error + "\")";
          },
          [](const Wakeup& e) { return "Wakeup(#" + std::to_string(e.id) + ")"; },
          [](const WriteDrained& e) { return "WriteDrained(" + std::to_string(e.conn) + ")"; },
          [](const HookResumed& e) {
            return "HookResumed(#" + std::to_string(e.id) +
                   (e.held ? ", " + describe(*e.held) : "") + ")";
          },
      },
      event);
}

std::string describe(const Command& command) {
  return std::visit(
      Overloaded{
          [](const SendData& c) {
            return "SendData(" + std::to_string(c.conn) + ", \"" + preview(c.data) + "\")";
          },
          [](const OpenConnection& c) {
            return "OpenConnection(#" + std::to_string(c.id) + ", conn " + std::to_string(c.conn) +
                   ", " + c.host + ":" + std::to_string(c.port) + ")";
          },
          [](const CloseConnection& c) {
            return "CloseConnection(" + std::to_string(c.conn) + (c.half_close ? ", half)" : ")");
          },
          [](const RequestWakeup& c) {
            return "RequestWakeup(#" + std::to_string(c.id) + ", " + std::to_string(c.delay_ms) +
                   " ms)";
          },
          [](const CancelWakeup& c) { return "CancelWakeup(#" + std::to_string(c.id) + ")"; },
          [](const PauseReading& c) {
            return std::string(c.paused ? "PauseReading(" : "ResumeReading(") +
                   std::to_string(c.conn) + ")";
          },
          [](const Log& c) { return "Log(\"" + c.message + "\")"; },
          [](const PublishFlow& c) {
            return std::string("PublishFlow(") +
                   (c.flow && c.flow->state == FlowState::kFinished ? "finished" : "live") +
                   (c.flow && !c.flow->error.empty() ? ", error \"" + c.flow->error + "\"" : "") +
                   ")";
          },
          [](const Learn& c) {
            return std::string(c.what == Learn::What::kPassthrough ? "Learn(passthrough "
                                                                   : "Learn(h2-only ") +
                   c.host_port + (c.why.empty() ? "" : ", \"" + c.why + "\"") + ")";
          },
          [](const Hook& c) {
            return "Hook(#" + std::to_string(c.id) + (c.held ? ", " + describe(*c.held) : "") + ")";
          },
      },
      command);
}

}  // namespace sightglass::core
