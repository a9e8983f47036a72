// eventfd(initval) -> fd (EFD_CLOEXEC | EFD_NONBLOCK): the notification channel of cgroup v1
// memory events (written to cgroup.event_control with the fd of memory.oom_control). Node
// reads it with fs.readSync once the fd polls readable (watchReadable in src/native).
#include <sys/eventfd.h>

#include "errors.h"
#include "module.h"

namespace berth {
namespace {

Napi::Value Eventfd(const Napi::CallbackInfo& info) {
  unsigned int initval = info.Length() > 0 ? info[0].As<Napi::Number>().Uint32Value() : 0;
  int fd = eventfd(initval, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) ThrowErrno(info.Env(), "eventfd");
  return Napi::Number::New(info.Env(), fd);
}

}  // namespace

void RegisterEventfd(Napi::Env env, Napi::Object exports) {
  exports.Set("eventfd", Napi::Function::New(env, Eventfd, "eventfd"));
}

}  // namespace berth
