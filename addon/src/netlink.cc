// rtnetlink for the network drivers: links (bridge, veth pair with its peer made directly in
// another network namespace, up/MTU/master/rename/delete, bridge-port hairpin), IPv4
// addresses and routes, and dumps of links, addresses and routes.
//
// netlink(nsFd, ops) runs a list of operations on a libuv worker thread (Napi::AsyncWorker)
// and returns a promise of one result per operation. Operations marked `ns` go through a
// NETLINK_ROUTE socket opened inside the network namespace `nsFd`: the worker thread setns()es
// into it, opens the socket and setns()es straight back, so the socket stays bound to that
// namespace while the thread (and Node's other threads) never do anything else in it. The
// others go through a socket in the process's own namespace. Nothing here runs on the JS
// thread except argument parsing and result building; a failure rejects with the errno, the
// netlink message type as `syscall` and the link (or address) at fault as `path`.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "errors.h"
#include "module.h"

namespace berth {
namespace {

enum class OpKind { kBridgeAdd, kVethAdd, kLinkSet, kLinkDel, kHairpin, kAddrAdd, kRouteAdd, kLinks, kAddrs, kRoutes };

// One operation, parsed on the JS thread.
struct Op {
  OpKind kind;
  bool inNs = false;          // through the socket in the target namespace
  std::string name;           // the link
  std::string peer;           // veth peer name
  int peerNsFd = -1;          // veth peer's namespace (fd), -1: same as the link's
  std::string peerMac;        // veth peer's MAC (6 bytes), empty: the kernel's random one
  int mtu = 0;                // 0: leave
  std::string master;         // bridge to enslave to ("" leave)
  int up = -1;                // -1 leave, 0 down, 1 up
  int netnsFd = -1;           // linkSet: move to this namespace
  std::string rename;         // linkSet: new name
  bool missingOk = false;     // linkDel: no error when absent
  bool on = false;            // hairpin
  in_addr addr{};             // addrAdd address / routeAdd destination
  int prefix = 0;             // its prefix length
  bool hasGateway = false;
  in_addr gateway{};
};

// One row of a dump.
struct LinkRow { int index; std::string name, kind; int mtu, master; bool up; };
struct AddrRow { int index; std::string address; int prefix; };
struct RouteRow { std::string dst, gateway; int prefix, oif, table, type, scope; };

struct OpResult {
  int ifindex = 0;
  std::vector<LinkRow> links;
  std::vector<AddrRow> addrs;
  std::vector<RouteRow> routes;
};

// Where an operation failed.
struct Failure {
  int err = 0;
  std::string syscall;
  std::string path;
};

// A netlink request under construction: header, family struct, then attributes.
class Msg {
 public:
  Msg(uint16_t type, uint16_t flags) {
    buf_.resize(NLMSG_HDRLEN);
    hdr()->nlmsg_type = type;
    hdr()->nlmsg_flags = flags | NLM_F_REQUEST;
  }
  template <typename T> T* Body() {
    size_t off = buf_.size();
    buf_.resize(off + NLMSG_ALIGN(sizeof(T)));
    return reinterpret_cast<T*>(buf_.data() + off);
  }
  void Attr(uint16_t type, const void* data, size_t len) {
    size_t off = buf_.size();
    buf_.resize(off + RTA_ALIGN(RTA_LENGTH(len)));
    auto* rta = reinterpret_cast<rtattr*>(buf_.data() + off);
    rta->rta_type = type;
    rta->rta_len = RTA_LENGTH(len);
    if (len) memcpy(RTA_DATA(rta), data, len);
  }
  void U32(uint16_t type, uint32_t v) { Attr(type, &v, sizeof v); }
  void U8(uint16_t type, uint8_t v) { Attr(type, &v, sizeof v); }
  void Str(uint16_t type, const std::string& s) { Attr(type, s.c_str(), s.size() + 1); }
  // Opens a nested attribute; close it with End(offset).
  size_t Begin(uint16_t type) {
    size_t off = buf_.size();
    Attr(type | NLA_F_NESTED, nullptr, 0);
    return off;
  }
  void End(size_t off) { reinterpret_cast<rtattr*>(buf_.data() + off)->rta_len = buf_.size() - off; }
  // Reserves room for a raw struct inside a nested attribute (VETH_INFO_PEER's ifinfomsg).
  template <typename T> size_t Raw() {
    size_t off = buf_.size();
    buf_.resize(off + NLMSG_ALIGN(sizeof(T)));
    return off;
  }
  template <typename T> T* At(size_t off) { return reinterpret_cast<T*>(buf_.data() + off); }
  nlmsghdr* Finish(uint32_t seq) {
    hdr()->nlmsg_len = buf_.size();
    hdr()->nlmsg_seq = seq;
    return hdr();
  }
  size_t size() const { return buf_.size(); }

 private:
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  std::vector<char> buf_;
};

// A NETLINK_ROUTE socket (closed on destruction).
class Sock {
 public:
  // Opens it in the calling thread's namespace, or in `nsFd`'s (setns there and back).
  int Open(int nsFd) {
    if (nsFd < 0) return OpenHere();
    Fd self(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (self.get() < 0) return errno;
    if (setns(nsFd, CLONE_NEWNET) < 0) return errno;
    int err = OpenHere();
    // A worker thread left in the container's namespace would run later jobs there.
    if (setns(self.get(), CLONE_NEWNET) < 0) abort();
    return err;
  }
  int fd() const { return fd_.get(); }

  // Sends one request and reads replies until its ACK (or NLMSG_DONE for a dump), calling
  // `row` for each data message. Returns 0 or the errno.
  template <typename F> int Talk(Msg& m, F&& row) {
    nlmsghdr* h = m.Finish(++seq_);
    if (send(fd(), h, m.size(), 0) < 0) return errno;
    bool dump = (h->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
    std::vector<char> buf(65536);
    for (;;) {
      ssize_t n = recv(fd(), buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      int len = static_cast<int>(n);
      for (auto* r = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(r, len); r = NLMSG_NEXT(r, len)) {
        if (r->nlmsg_seq != seq_) continue;
        if (r->nlmsg_type == NLMSG_DONE) return 0;
        if (r->nlmsg_type == NLMSG_ERROR) {
          auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(r));
          if (e->error != 0 || !dump) return -e->error;
          continue;
        }
        row(r);
        if (!dump) return 0;
      }
    }
  }
  int Talk(Msg& m) { return Talk(m, [](nlmsghdr*) {}); }

 private:
  int OpenHere() {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return errno;
    fd_.reset(fd);
    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) return errno;
    int one = 1;
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    return 0;
  }
  Fd fd_;
  uint32_t seq_ = 0;
};

// The attributes of a message after its family struct of size `fixed`.
template <typename F> void ForAttrs(nlmsghdr* h, size_t fixed, F&& f) {
  auto* rta = reinterpret_cast<rtattr*>(static_cast<char*>(NLMSG_DATA(h)) + NLMSG_ALIGN(fixed));
  int len = static_cast<int>(h->nlmsg_len) - NLMSG_LENGTH(fixed);
  for (; RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) f(rta);
}

std::string Ip(const void* p) {
  char s[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, p, s, sizeof s);
  return s;
}

// The index of link `name` (0 and the errno in *err when absent).
int IndexOf(Sock& s, const std::string& name, int* err) {
  Msg m(RTM_GETLINK, 0);
  m.Body<ifinfomsg>()->ifi_family = AF_UNSPEC;
  m.Str(IFLA_IFNAME, name);
  int index = 0;
  *err = s.Talk(m, [&](nlmsghdr* h) { index = static_cast<ifinfomsg*>(NLMSG_DATA(h))->ifi_index; });
  return index;
}

// Runs one operation; fills `out`, or `fail` and returns false.
bool Run(Sock& s, const Op& op, OpResult& out, Failure& fail) {
  auto failed = [&](int err, const char* syscall, const std::string& path) {
    fail.err = err;
    fail.syscall = syscall;
    fail.path = path;
    return false;
  };
  int err = 0;
  switch (op.kind) {
    case OpKind::kBridgeAdd: {
      Msg m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
      m.Body<ifinfomsg>()->ifi_family = AF_UNSPEC;
      m.Str(IFLA_IFNAME, op.name);
      if (op.mtu) m.U32(IFLA_MTU, op.mtu);
      size_t li = m.Begin(IFLA_LINKINFO);
      m.Str(IFLA_INFO_KIND, "bridge");
      m.End(li);
      if ((err = s.Talk(m))) return failed(err, "RTM_NEWLINK", op.name);
      out.ifindex = IndexOf(s, op.name, &err);
      if (err) return failed(err, "RTM_GETLINK", op.name);
      return true;
    }
    case OpKind::kVethAdd: {
      int master = 0;
      if (!op.master.empty() && !(master = IndexOf(s, op.master, &err))) return failed(err, "RTM_GETLINK", op.master);
      Msg m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
      m.Body<ifinfomsg>()->ifi_family = AF_UNSPEC;
      m.Str(IFLA_IFNAME, op.name);
      if (op.mtu) m.U32(IFLA_MTU, op.mtu);
      if (master) m.U32(IFLA_MASTER, master);
      size_t li = m.Begin(IFLA_LINKINFO);
      m.Str(IFLA_INFO_KIND, "veth");
      size_t data = m.Begin(IFLA_INFO_DATA);
      size_t peer = m.Begin(VETH_INFO_PEER);
      m.At<ifinfomsg>(m.Raw<ifinfomsg>())->ifi_family = AF_UNSPEC;
      m.Str(IFLA_IFNAME, op.peer);
      if (op.mtu) m.U32(IFLA_MTU, op.mtu);
      if (op.peerNsFd >= 0) m.U32(IFLA_NET_NS_FD, op.peerNsFd);
      if (!op.peerMac.empty()) m.Attr(IFLA_ADDRESS, op.peerMac.data(), op.peerMac.size());
      m.End(peer);
      m.End(data);
      m.End(li);
      if ((err = s.Talk(m))) return failed(err, "RTM_NEWLINK", op.name);
      out.ifindex = IndexOf(s, op.name, &err);
      if (err) return failed(err, "RTM_GETLINK", op.name);
      return true;
    }
    case OpKind::kLinkSet: {
      int index = IndexOf(s, op.name, &err);
      if (!index) return failed(err, "RTM_GETLINK", op.name);
      int master = 0;
      if (!op.master.empty() && !(master = IndexOf(s, op.master, &err))) return failed(err, "RTM_GETLINK", op.master);
      Msg m(RTM_NEWLINK, NLM_F_ACK);
      auto* ifi = m.Body<ifinfomsg>();
      ifi->ifi_family = AF_UNSPEC;
      ifi->ifi_index = index;
      if (op.up >= 0) {
        ifi->ifi_change = IFF_UP;
        ifi->ifi_flags = op.up ? IFF_UP : 0;
      }
      if (!op.rename.empty()) m.Str(IFLA_IFNAME, op.rename);
      if (op.mtu) m.U32(IFLA_MTU, op.mtu);
      if (master) m.U32(IFLA_MASTER, master);
      if (op.netnsFd >= 0) m.U32(IFLA_NET_NS_FD, op.netnsFd);
      if ((err = s.Talk(m))) return failed(err, "RTM_NEWLINK", op.name);
      out.ifindex = index;
      return true;
    }
    case OpKind::kLinkDel: {
      int index = IndexOf(s, op.name, &err);
      if (!index) return (err == ENODEV && op.missingOk) ? true : failed(err, "RTM_GETLINK", op.name);
      Msg m(RTM_DELLINK, NLM_F_ACK);
      auto* ifi = m.Body<ifinfomsg>();
      ifi->ifi_family = AF_UNSPEC;
      ifi->ifi_index = index;
      err = s.Talk(m);
      if (err && !(op.missingOk && err == ENODEV)) return failed(err, "RTM_DELLINK", op.name);
      return true;
    }
    case OpKind::kHairpin: {
      int index = IndexOf(s, op.name, &err);
      if (!index) return failed(err, "RTM_GETLINK", op.name);
      Msg m(RTM_SETLINK, NLM_F_ACK);
      auto* ifi = m.Body<ifinfomsg>();
      ifi->ifi_family = AF_BRIDGE;
      ifi->ifi_index = index;
      size_t p = m.Begin(IFLA_PROTINFO);
      m.U8(IFLA_BRPORT_MODE, op.on ? 1 : 0);
      m.End(p);
      if ((err = s.Talk(m))) return failed(err, "RTM_SETLINK", op.name);
      return true;
    }
    case OpKind::kAddrAdd: {
      int index = IndexOf(s, op.name, &err);
      if (!index) return failed(err, "RTM_GETLINK", op.name);
      Msg m(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
      auto* ifa = m.Body<ifaddrmsg>();
      ifa->ifa_family = AF_INET;
      ifa->ifa_prefixlen = op.prefix;
      ifa->ifa_index = index;
      m.Attr(IFA_LOCAL, &op.addr, 4);
      m.Attr(IFA_ADDRESS, &op.addr, 4);
      if (op.prefix < 31) {
        uint32_t host = op.prefix == 0 ? 0xffffffffu : (0xffffffffu >> op.prefix);
        in_addr brd{htonl(ntohl(op.addr.s_addr) | host)};
        m.Attr(IFA_BROADCAST, &brd, 4);
      }
      if ((err = s.Talk(m))) return failed(err, "RTM_NEWADDR", op.name + " " + Ip(&op.addr) + "/" + std::to_string(op.prefix));
      return true;
    }
    case OpKind::kRouteAdd: {
      int index = 0;
      if (!op.name.empty() && !(index = IndexOf(s, op.name, &err))) return failed(err, "RTM_GETLINK", op.name);
      Msg m(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
      auto* rt = m.Body<rtmsg>();
      rt->rtm_family = AF_INET;
      rt->rtm_dst_len = op.prefix;
      rt->rtm_table = RT_TABLE_MAIN;
      rt->rtm_protocol = RTPROT_BOOT;
      rt->rtm_scope = op.hasGateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
      rt->rtm_type = RTN_UNICAST;
      if (op.prefix > 0) m.Attr(RTA_DST, &op.addr, 4);
      if (op.hasGateway) m.Attr(RTA_GATEWAY, &op.gateway, 4);
      if (index) m.U32(RTA_OIF, index);
      if ((err = s.Talk(m))) return failed(err, "RTM_NEWROUTE", Ip(&op.addr) + "/" + std::to_string(op.prefix));
      return true;
    }
    case OpKind::kLinks: {
      Msg m(RTM_GETLINK, NLM_F_DUMP);
      m.Body<ifinfomsg>()->ifi_family = AF_UNSPEC;
      err = s.Talk(m, [&](nlmsghdr* h) {
        if (h->nlmsg_type != RTM_NEWLINK) return;
        auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(h));
        LinkRow row{ifi->ifi_index, "", "", 0, 0, (ifi->ifi_flags & IFF_UP) != 0};
        ForAttrs(h, sizeof(ifinfomsg), [&](rtattr* a) {
          if (a->rta_type == IFLA_IFNAME) row.name = static_cast<char*>(RTA_DATA(a));
          else if (a->rta_type == IFLA_MTU) row.mtu = *static_cast<uint32_t*>(RTA_DATA(a));
          else if (a->rta_type == IFLA_MASTER) row.master = *static_cast<uint32_t*>(RTA_DATA(a));
          else if ((a->rta_type & NLA_TYPE_MASK) == IFLA_LINKINFO) {
            auto* in = static_cast<rtattr*>(RTA_DATA(a));
            int len = RTA_PAYLOAD(a);
            for (; RTA_OK(in, len); in = RTA_NEXT(in, len)) {
              if ((in->rta_type & NLA_TYPE_MASK) == IFLA_INFO_KIND) row.kind = static_cast<char*>(RTA_DATA(in));
            }
          }
        });
        out.links.push_back(row);
      });
      if (err) return failed(err, "RTM_GETLINK", "");
      return true;
    }
    case OpKind::kAddrs: {
      Msg m(RTM_GETADDR, NLM_F_DUMP);
      m.Body<ifaddrmsg>()->ifa_family = AF_INET;
      err = s.Talk(m, [&](nlmsghdr* h) {
        if (h->nlmsg_type != RTM_NEWADDR) return;
        auto* ifa = static_cast<ifaddrmsg*>(NLMSG_DATA(h));
        if (ifa->ifa_family != AF_INET) return;
        AddrRow row{static_cast<int>(ifa->ifa_index), "", ifa->ifa_prefixlen};
        ForAttrs(h, sizeof(ifaddrmsg), [&](rtattr* a) {
          if (a->rta_type == IFA_LOCAL || (a->rta_type == IFA_ADDRESS && row.address.empty())) row.address = Ip(RTA_DATA(a));
        });
        out.addrs.push_back(row);
      });
      if (err) return failed(err, "RTM_GETADDR", "");
      return true;
    }
    case OpKind::kRoutes: {
      Msg m(RTM_GETROUTE, NLM_F_DUMP);
      m.Body<rtmsg>()->rtm_family = AF_INET;
      err = s.Talk(m, [&](nlmsghdr* h) {
        if (h->nlmsg_type != RTM_NEWROUTE) return;
        auto* rt = static_cast<rtmsg*>(NLMSG_DATA(h));
        if (rt->rtm_family != AF_INET) return;
        RouteRow row{"0.0.0.0", "", rt->rtm_dst_len, 0, rt->rtm_table, rt->rtm_type, rt->rtm_scope};
        ForAttrs(h, sizeof(rtmsg), [&](rtattr* a) {
          if (a->rta_type == RTA_DST) row.dst = Ip(RTA_DATA(a));
          else if (a->rta_type == RTA_GATEWAY) row.gateway = Ip(RTA_DATA(a));
          else if (a->rta_type == RTA_OIF) row.oif = *static_cast<uint32_t*>(RTA_DATA(a));
          else if (a->rta_type == RTA_TABLE) row.table = *static_cast<uint32_t*>(RTA_DATA(a));
        });
        out.routes.push_back(row);
      });
      if (err) return failed(err, "RTM_GETROUTE", "");
      return true;
    }
  }
  return true;
}

class NetlinkWorker : public Napi::AsyncWorker {
 public:
  NetlinkWorker(Napi::Env env, int nsFd, std::vector<Op> ops)
      : Napi::AsyncWorker(env, "berth:netlink"), deferred_(Napi::Promise::Deferred::New(env)), nsFd_(nsFd), ops_(std::move(ops)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    Sock host, ns;
    bool needHost = false, needNs = false;
    for (const Op& op : ops_) (op.inNs ? needNs : needHost) = true;
    int err;
    if (needHost && (err = host.Open(-1))) { fail_ = {err, "socket", ""}; return; }
    if (needNs && (err = ns.Open(nsFd_))) { fail_ = {err, "setns", "netns"}; return; }
    results_.resize(ops_.size());
    for (size_t i = 0; i < ops_.size(); i++) {
      if (!Run(ops_[i].inNs ? ns : host, ops_[i], results_[i], fail_)) {
        failedAt_ = static_cast<int>(i);
        return;
      }
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (fail_.err) {
      Napi::Error e = ErrnoError(env, fail_.err, fail_.syscall.c_str(), fail_.path.empty() ? nullptr : fail_.path.c_str());
      e.Set("op", Napi::Number::New(env, failedAt_));
      deferred_.Reject(e.Value());
      return;
    }
    Napi::Array out = Napi::Array::New(env, results_.size());
    for (size_t i = 0; i < results_.size(); i++) {
      const OpResult& r = results_[i];
      switch (ops_[i].kind) {
        case OpKind::kLinks: {
          Napi::Array a = Napi::Array::New(env, r.links.size());
          for (size_t j = 0; j < r.links.size(); j++) {
            const LinkRow& l = r.links[j];
            Napi::Object o = Napi::Object::New(env);
            o.Set("index", l.index);
            o.Set("name", l.name);
            o.Set("kind", l.kind);
            o.Set("mtu", l.mtu);
            o.Set("master", l.master);
            o.Set("up", l.up);
            a.Set(j, o);
          }
          out.Set(i, a);
          break;
        }
        case OpKind::kAddrs: {
          Napi::Array a = Napi::Array::New(env, r.addrs.size());
          for (size_t j = 0; j < r.addrs.size(); j++) {
            Napi::Object o = Napi::Object::New(env);
            o.Set("index", r.addrs[j].index);
            o.Set("address", r.addrs[j].address);
            o.Set("prefix", r.addrs[j].prefix);
            a.Set(j, o);
          }
          out.Set(i, a);
          break;
        }
        case OpKind::kRoutes: {
          Napi::Array a = Napi::Array::New(env, r.routes.size());
          for (size_t j = 0; j < r.routes.size(); j++) {
            const RouteRow& x = r.routes[j];
            Napi::Object o = Napi::Object::New(env);
            o.Set("dst", x.dst);
            o.Set("prefix", x.prefix);
            o.Set("gateway", x.gateway);
            o.Set("oif", x.oif);
            o.Set("table", x.table);
            o.Set("type", x.type);
            o.Set("scope", x.scope);
            a.Set(j, o);
          }
          out.Set(i, a);
          break;
        }
        default:
          out.Set(i, r.ifindex ? Napi::Value(Napi::Number::New(env, r.ifindex)) : env.Undefined());
      }
    }
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  int nsFd_;
  std::vector<Op> ops_;
  std::vector<OpResult> results_;
  Failure fail_;
  int failedAt_ = -1;
};

std::string StrField(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}
int IntField(Napi::Object o, const char* key, int dflt) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : dflt;
}
in_addr AddrField(Napi::Env env, Napi::Object o, const char* key) {
  in_addr a{};
  std::string s = StrField(o, key);
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) ThrowErrnoValue(env, EINVAL, "inet_pton", s.c_str());
  return a;
}
void CheckName(Napi::Env env, const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) ThrowErrnoValue(env, EINVAL, "ifname", name.c_str());
}

// netlink(nsFd, ops): a promise of one result per op (ifindex, rows, or undefined).
Napi::Value Netlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int nsFd = IntArg(info, 0);
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<Op> ops;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Object o = arr.Get(i).As<Napi::Object>();
    std::string kind = StrField(o, "op");
    Op op;
    op.inNs = o.Get("ns").ToBoolean().Value();
    op.name = StrField(o, "name");
    op.mtu = IntField(o, "mtu", 0);
    op.master = StrField(o, "master");
    if (kind == "bridgeAdd") { op.kind = OpKind::kBridgeAdd; CheckName(env, op.name); }
    else if (kind == "vethAdd") {
      op.kind = OpKind::kVethAdd;
      op.peer = StrField(o, "peer");
      op.peerNsFd = IntField(o, "peerNetns", -1);
      std::string mac = StrField(o, "peerMac");
      if (!mac.empty()) {
        unsigned b[6];
        char tail;
        if (sscanf(mac.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6) ThrowErrnoValue(env, EINVAL, "vethAdd", "peerMac");
        for (unsigned x : b) op.peerMac += static_cast<char>(x);
      }
      CheckName(env, op.name);
      CheckName(env, op.peer);
    } else if (kind == "linkSet") {
      op.kind = OpKind::kLinkSet;
      Napi::Value up = o.Get("up");
      op.up = up.IsBoolean() ? (up.As<Napi::Boolean>().Value() ? 1 : 0) : -1;
      op.netnsFd = IntField(o, "netns", -1);
      op.rename = StrField(o, "rename");
      CheckName(env, op.name);
    } else if (kind == "linkDel") {
      op.kind = OpKind::kLinkDel;
      op.missingOk = o.Get("missingOk").ToBoolean().Value();
      CheckName(env, op.name);
    } else if (kind == "hairpin") {
      op.kind = OpKind::kHairpin;
      op.on = o.Get("on").ToBoolean().Value();
      CheckName(env, op.name);
    } else if (kind == "addrAdd") {
      op.kind = OpKind::kAddrAdd;
      op.addr = AddrField(env, o, "address");
      op.prefix = IntField(o, "prefix", 32);
      CheckName(env, op.name);
    } else if (kind == "routeAdd") {
      op.kind = OpKind::kRouteAdd;
      op.prefix = IntField(o, "prefix", 0);
      if (op.prefix > 0) op.addr = AddrField(env, o, "dst");
      if (o.Get("gateway").IsString()) { op.hasGateway = true; op.gateway = AddrField(env, o, "gateway"); }
    } else if (kind == "links") op.kind = OpKind::kLinks;
    else if (kind == "addrs") op.kind = OpKind::kAddrs;
    else if (kind == "routes") op.kind = OpKind::kRoutes;
    else ThrowErrnoValue(env, EINVAL, "netlink", kind.c_str());
    if (op.prefix < 0 || op.prefix > 32) ThrowErrnoValue(env, EINVAL, "netlink", "prefix");
    ops.push_back(std::move(op));
  }
  auto* worker = new NetlinkWorker(env, nsFd, std::move(ops));
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

}  // namespace

void RegisterNetlink(Napi::Env env, Napi::Object exports) {
  exports.Set("netlink", Napi::Function::New(env, Netlink, "netlink"));
}

}  // namespace berth
