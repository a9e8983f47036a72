// Exit watching: watchExit(pidfd, reap, callback) polls a pidfd on Node's own libuv loop
// (uv_poll_t, UV_READABLE: a pidfd becomes readable when the process exits). No thread per
// child, no waitpid(-1) (libuv's SIGCHLD handling of child_process is untouched), no timers.
//
// Lifetime: the uv_poll_t lives in a heap Poll block that only the uv close callback frees,
// so neither a finalizer nor close() can free memory libuv still uses. While polling, the
// JS handle object holds a strong reference to itself, so it cannot be collected before the
// callback has run; afterwards it is an ordinary object. An async cleanup hook closes a
// still-active poll when the environment (a Worker, or the main thread at exit) goes away.
#include <sys/wait.h>
#include <uv.h>

#include <cerrno>

#include "errors.h"
#include "module.h"

namespace berth {
namespace {

class ExitWatch;

// What libuv points at; freed only in OnClosed.
struct Poll {
  uv_poll_t handle;
  napi_async_cleanup_hook_handle hook = nullptr;
  ExitWatch* owner = nullptr;  // null once the watch has stopped or died
};

// The JS handle: { ref(), unref(), hasRef(), close() }.
class ExitWatch : public Napi::ObjectWrap<ExitWatch> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ExitWatch(const Napi::CallbackInfo& info);
  ~ExitWatch() override { Detach(); }

 private:
  static void OnReadable(uv_poll_t* handle, int status, int events);
  static void OnCleanup(napi_async_cleanup_hook_handle hook, void* arg);
  static void OnClosed(uv_handle_t* handle);

  void Fire(int status);
  void FireCallback(int status);
  void Detach();
  void Stop();
  Napi::Value RefHandle(const Napi::CallbackInfo& info);
  Napi::Value UnrefHandle(const Napi::CallbackInfo& info);
  Napi::Value HasRef(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  Poll* poll_ = nullptr;  // non-null while watching
  Napi::FunctionReference callback_;
  Napi::AsyncContext context_;
  int pidfd_;
  bool reap_;
};

Napi::Function ExitWatch::Define(Napi::Env env) {
  return DefineClass(env, "ExitWatch",
                     {InstanceMethod<&ExitWatch::RefHandle>("ref"),
                      InstanceMethod<&ExitWatch::UnrefHandle>("unref"),
                      InstanceMethod<&ExitWatch::HasRef>("hasRef"),
                      InstanceMethod<&ExitWatch::Close>("close")});
}

// new ExitWatch(pidfd, reap, callback): starts polling, unref'ed.
ExitWatch::ExitWatch(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<ExitWatch>(info),
      context_(info.Env(), "berth:ExitWatch"),
      pidfd_(IntArg(info, 0)),
      reap_(BoolArg(info, 1)) {
  Napi::Env env = info.Env();
  callback_ = Napi::Persistent(info[2].As<Napi::Function>());
  uv_loop_t* loop = nullptr;
  NAPI_THROW_IF_FAILED_VOID(env, napi_get_uv_event_loop(env, &loop));

  auto* poll = new Poll();
  int rc = uv_poll_init(loop, &poll->handle, pidfd_);
  if (rc < 0) {  // never initialised: nothing for libuv to close
    delete poll;
    ThrowErrnoValue(env, -rc, "uv_poll_init");
  }
  poll->handle.data = poll;
  poll->owner = this;
  poll_ = poll;
  uv_unref(reinterpret_cast<uv_handle_t*>(&poll->handle));
  rc = uv_poll_start(&poll->handle, UV_READABLE, OnReadable);
  if (rc < 0) {
    Detach();
    ThrowErrnoValue(env, -rc, "uv_poll_start");
  }
  if (napi_add_async_cleanup_hook(env, OnCleanup, poll, &poll->hook) != napi_ok) {
    poll->hook = nullptr;  // only matters at environment teardown
  }
  Ref();  // keep this object alive while watching (released in Stop)
}

// libuv: the pidfd is readable (the process exited) or polling failed.
void ExitWatch::OnReadable(uv_poll_t* handle, int status, int /*events*/) {
  auto* poll = static_cast<Poll*>(handle->data);
  if (poll->owner) poll->owner->Fire(status);
}

// Collects the exit status, stops watching, then calls back (err, { exitCode, signal, reaped }).
// During environment teardown JavaScript can no longer run: then the watch just stops.
void ExitWatch::Fire(int status) {
  try {
    FireCallback(status);
  } catch (const Napi::Error&) {
    Stop();
  }
}

void ExitWatch::FireCallback(int status) {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::Object self = Value();  // a local handle: keeps this object alive through the call
  Napi::Function callback = callback_.Value();
  Napi::Value error = env.Null();
  Napi::Value result = env.Undefined();
  if (status < 0) {
    error = ErrnoError(env, -status, "uv_poll").Value();
  } else {
    Napi::Object out = Napi::Object::New(env);
    out.Set("exitCode", env.Null());
    out.Set("signal", env.Null());
    out.Set("reaped", false);
    if (reap_) {
      siginfo_t si = {};
      int rc;
      do {
        rc = waitid(static_cast<idtype_t>(P_PIDFD), pidfd_, &si, WEXITED | WNOHANG);
      } while (rc < 0 && errno == EINTR);
      if (rc < 0 && errno != ECHILD) {  // ECHILD: not our child, or reaped elsewhere
        error = ErrnoError(env, errno, "waitid").Value();
      } else if (rc == 0 && si.si_pid != 0) {
        out.Set("reaped", true);
        if (si.si_code == CLD_EXITED) {
          out.Set("exitCode", Napi::Number::New(env, si.si_status));
        } else {
          out.Set("signal", Napi::Number::New(env, si.si_status));  // CLD_KILLED or CLD_DUMPED
        }
      }
    }
    if (error.IsNull()) result = out;
  }
  Stop();
  try {
    callback.MakeCallback(self, {error, result}, context_);
  } catch (const Napi::Error& e) {  // the callback threw: report it like any uncaught error
    napi_fatal_exception(env, e.Value());
  }
}

// Stops polling and hands the uv handle to libuv for closing (it frees the Poll block).
void ExitWatch::Detach() {
  if (!poll_) return;
  uv_poll_stop(&poll_->handle);
  poll_->owner = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_->handle), OnClosed);
  poll_ = nullptr;
}

// Detach, drop the callback, and let this object be collected.
void ExitWatch::Stop() {
  if (!poll_) return;
  Detach();
  callback_.Reset();
  Unref();
}

// Environment teardown: close a poll that is still open.
void ExitWatch::OnCleanup(napi_async_cleanup_hook_handle /*hook*/, void* arg) {
  auto* poll = static_cast<Poll*>(arg);
  if (poll->owner) poll->owner->Detach();  // else already closing; OnClosed finishes the hook
}

// libuv is done with the handle: release the cleanup hook and the memory.
void ExitWatch::OnClosed(uv_handle_t* handle) {
  auto* poll = static_cast<Poll*>(handle->data);
  if (poll->hook) napi_remove_async_cleanup_hook(poll->hook);
  delete poll;
}

Napi::Value ExitWatch::RefHandle(const Napi::CallbackInfo& info) {
  if (poll_) uv_ref(reinterpret_cast<uv_handle_t*>(&poll_->handle));
  return info.Env().Undefined();
}

Napi::Value ExitWatch::UnrefHandle(const Napi::CallbackInfo& info) {
  if (poll_) uv_unref(reinterpret_cast<uv_handle_t*>(&poll_->handle));
  return info.Env().Undefined();
}

Napi::Value ExitWatch::HasRef(const Napi::CallbackInfo& info) {
  bool refd = poll_ && uv_has_ref(reinterpret_cast<uv_handle_t*>(&poll_->handle));
  return Napi::Boolean::New(info.Env(), refd);
}

// close(): stop watching without calling back. Idempotent.
Napi::Value ExitWatch::Close(const Napi::CallbackInfo& info) {
  Stop();
  return info.Env().Undefined();
}

// watchExit(pidfd, reap, callback) -> ExitWatch. The pidfd stays the caller's: close it only
// after the callback or close() (one watch per pidfd: libuv allows one poll per fd).
Napi::Value WatchExit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[2].IsFunction()) {
    throw Napi::TypeError::New(env, "watchExit: callback must be a function");
  }
  Napi::FunctionReference& ctor = env.GetInstanceData<AddonData>()->exitWatchConstructor;
  return ctor.New({info[0], info[1], info[2]});
}

}  // namespace

void RegisterExitWatch(Napi::Env env, Napi::Object exports) {
  env.GetInstanceData<AddonData>()->exitWatchConstructor = Napi::Persistent(ExitWatch::Define(env));
  exports.Set("watchExit", Napi::Function::New(env, WatchExit, "watchExit"));
}

}  // namespace berth
