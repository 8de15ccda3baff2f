// The decoder registry and the two built-in decoders registered in it (BUFR surface
// observations, CAP alerts): thin adapters from their own result types to DecodeOutput.
#include <algorithm>
#include <map>
#include <mutex>

#include "wis2mon/decode/bufr.hpp"
#include "wis2mon/decode/cap.hpp"
#include "wis2mon/decoder.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/notification.hpp"

namespace wis2mon {
namespace {

class BufrDecoder final : public Decoder {
 public:
  std::string name() const override { return "bufr"; }
  std::string description() const override { return "BUFR surface observations: surface_obs records"; }
  std::vector<RecordSchemaPtr> schemas() const override { return {surface_obs_schema()}; }
  DecodeOutput decode(std::string_view data) const override {
    auto r = decode_bufr(data);
    DecodeOutput out;
    out.records = std::move(r.records);
    for (auto& e : r.errors) out.errors.push_back({std::move(e.message), e.message_index});
    for (auto& w : r.warnings) out.warnings.push_back({std::move(w.message), w.message_index});
    if (out.records.empty() && out.errors.empty()) out.errors.push_back({"no BUFR subsets", -1});
    return out;
  }
};

class CapDecoder final : public Decoder {
 public:
  std::string name() const override { return "cap"; }
  std::string description() const override { return "CAP alerts: cap_alerts and cap_areas records"; }
  std::vector<RecordSchemaPtr> schemas() const override { return {cap_alerts_schema(), cap_areas_schema()}; }
  DecodeOutput decode(std::string_view data) const override { return decode_with(data, {}); }
  DecodeOutput decode_with(std::string_view data, const DecodeContext& context) const override {
    CapOptions options;
    options.mode = context.mode;
    auto d = decode_cap_document(data, options);
    DecodeOutput out;
    // An alert with errors still gives its rows (with valid = 0); only no alert at all fails.
    // Each alert of an envelope is decoded; its issues carry its position there.
    out.records = d.to_records();
    for (auto& a : d.alerts) {
      const std::string where =
          a.position > 0 ? "alert " + std::to_string(a.position) + " of <" + d.container + ">: " : "";
      const int index = a.position > 0 ? a.position : -1;
      for (auto& e : a.errors) out.errors.push_back({where + e.message, index});
      for (auto& w : a.warnings) out.warnings.push_back({where + w.message, index});
    }
    for (auto& e : d.errors) out.errors.push_back({std::move(e.message), -1});
    for (auto& w : d.warnings) out.warnings.push_back({std::move(w.message), -1});
    if (out.records.empty() && out.errors.empty()) out.errors.push_back({"not a CAP alert", -1});
    return out;
  }
};

bool is_decoder_name(const std::string& n) {
  if (n.empty() || n.size() > 64 || n == "none") return false;
  return std::all_of(n.begin(), n.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; });
}

struct Registry {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<const Decoder>, std::less<>> decoders;
};

// Built-ins are added on first use, the same way register_decoder adds a user's.
Registry& registry() {
  static Registry* r = [] {
    auto* made = new Registry;  // never destroyed: decoders may be looked up during exit
    const std::shared_ptr<const Decoder> builtins[] = {std::make_shared<BufrDecoder>(), std::make_shared<CapDecoder>()};
    for (const auto& d : builtins) made->decoders.emplace(d->name(), d);
    return made;
  }();
  return *r;
}

}  // namespace

void register_decoder(std::shared_ptr<const Decoder> decoder) {
  if (!decoder) throw Error(ErrorCode::invalid_argument, "register_decoder: no decoder");
  const std::string name = decoder->name();
  if (!is_decoder_name(name))
    throw Error(ErrorCode::invalid_argument,
                "register_decoder: '" + name + "' is not a decoder name (lower case, digits, '_', '-'; not 'none')");
  auto& r = registry();
  std::lock_guard lock(r.mu);
  if (!r.decoders.emplace(name, std::move(decoder)).second)
    throw Error(ErrorCode::invalid_argument, "register_decoder: a decoder named '" + name + "' exists already");
}

std::shared_ptr<const Decoder> find_decoder(std::string_view name) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  const auto it = r.decoders.find(name);
  return it == r.decoders.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const Decoder>> registered_decoders() {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  std::vector<std::shared_ptr<const Decoder>> out;
  for (const auto& [name, d] : r.decoders) out.push_back(d);
  return out;
}

std::vector<RecordSchemaPtr> known_record_schemas() {
  std::vector<RecordSchemaPtr> out{notifications_schema()};
  for (const auto& d : registered_decoders())
    for (auto& s : d->schemas()) out.push_back(std::move(s));
  return out;
}

}  // namespace wis2mon
