// berth.node entry point: registers every export. The module is thin by design: each
// function is one system call (or one tight sequence) with errno mapped to a thrown error;
// all policy lives in TypeScript (src/native/index.ts is the only importer).
#include "module.h"

namespace {

// Builds the exports object for one environment (the main thread or a Worker).
Napi::Object InitBerth(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new berth::AddonData());  // deleted by Node with the environment
  berth::RegisterHelperSpawn(env, exports);
  berth::RegisterPty(env, exports);
  berth::RegisterExitWatch(env, exports);
  berth::RegisterFdOps(env, exports);
  berth::RegisterBpfDevice(env, exports);
  berth::RegisterEventfd(env, exports);
  berth::RegisterSafeFs(env, exports);
  berth::RegisterBtrfs(env, exports);
  berth::RegisterNetlink(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(berth, InitBerth)
