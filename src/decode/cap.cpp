// CAP alerts with libxml2: a hardened parse into a DOM, then a walk that matches elements by
// namespace URI and local name and checks what the CAP 1.2 specification requires.
#include "wis2mon/decode/cap.hpp"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

#include "common/encoding.hpp"

namespace wis2mon {
namespace {

constexpr const char* kDsigNs = "http://www.w3.org/2000/09/xmldsig#";

// ---- the hardened parse --------------------------------------------------------------

// Per-thread state of the parse in progress: the SAX hooks and the entity loader are
// process-wide functions, so they find "our" parse through these.
struct ParseState {
  xmlParserCtxtPtr ctxt = nullptr;
  int depth = 0;
  int max_depth = 0;
  bool doctype = false;
  bool too_deep = false;
  int loads_refused = 0;
  std::vector<std::string> messages;  // libxml2's errors, "line N: message"
};
thread_local ParseState* t_state = nullptr;

xmlExternalEntityLoader g_previous_loader = nullptr;

// Refuses every external resource (DTDs, external entities, XInclude) for our parses; other
// users of libxml2 in the process keep the loader they had.
xmlParserInputPtr refusing_loader(const char* url, const char* id, xmlParserCtxtPtr ctxt) {
  if (t_state && (ctxt == nullptr || ctxt == t_state->ctxt)) {
    ++t_state->loads_refused;
    return nullptr;
  }
  return g_previous_loader ? g_previous_loader(url, id, ctxt) : nullptr;
}

void on_internal_subset(void* ctx, const xmlChar*, const xmlChar*, const xmlChar*) {
  if (t_state) t_state->doctype = true;
  xmlStopParser(static_cast<xmlParserCtxtPtr>(ctx));  // before any declaration is read
}

void on_start_element(void* ctx, const xmlChar* localname, const xmlChar* prefix, const xmlChar* uri, int nb_namespaces,
                      const xmlChar** namespaces, int nb_attributes, int nb_defaulted, const xmlChar** attributes) {
  if (t_state && ++t_state->depth > t_state->max_depth) {
    t_state->too_deep = true;
    xmlStopParser(static_cast<xmlParserCtxtPtr>(ctx));
    return;
  }
  xmlSAX2StartElementNs(ctx, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes, nb_defaulted,
                        attributes);
}

void on_end_element(void* ctx, const xmlChar* localname, const xmlChar* prefix, const xmlChar* uri) {
  if (t_state) --t_state->depth;
  xmlSAX2EndElementNs(ctx, localname, prefix, uri);
}

void on_error(void*, xmlErrorPtr error) {
  if (!t_state || !error || error->level < XML_ERR_ERROR || t_state->messages.size() >= 5) return;
  std::string msg = error->message ? error->message : "unknown XML error";
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  // libxml2 quotes the input in some messages, cut at a byte count: a character may be split.
  t_state->messages.push_back("line " + std::to_string(error->line) + ": " + detail::to_valid_utf8(msg));
}

void init_libxml() {
  static std::once_flag once;
  std::call_once(once, [] {
    xmlInitParser();
    g_previous_loader = xmlGetExternalEntityLoader();
    xmlSetExternalEntityLoader(&refusing_loader);
  });
}

struct DocDeleter {
  void operator()(xmlDocPtr d) const noexcept { xmlFreeDoc(d); }
};
struct CtxtDeleter {
  void operator()(xmlParserCtxtPtr c) const noexcept { xmlFreeParserCtxt(c); }
};
using DocPtr = std::unique_ptr<xmlDoc, DocDeleter>;

// ---- DOM helpers ----------------------------------------------------------------------

std::string_view name_of(const xmlNode* n) {
  return reinterpret_cast<const char*>(n->name);
}
std::string_view ns_of(const xmlNode* n) {
  return n->ns && n->ns->href ? std::string_view(reinterpret_cast<const char*>(n->ns->href)) : std::string_view();
}

std::string trimmed(std::string s) {
  const auto blank = [](unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  std::size_t b = 0, e = s.size();
  while (b < e && blank(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && blank(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string text_of(const xmlNode* n) {
  std::unique_ptr<xmlChar, decltype(xmlFree)> c(xmlNodeGetContent(n), xmlFree);
  return trimmed(c ? reinterpret_cast<const char*>(c.get()) : "");
}

const char* cap_version_of(std::string_view ns) {
  if (ns == "urn:oasis:names:tc:emergency:cap:1.2") return "1.2";
  if (ns == "urn:oasis:names:tc:emergency:cap:1.1") return "1.1";
  if (ns == "http://www.incident.com/cap/1.0") return "1.0";
  return nullptr;
}

// Every CAP alert under n, in document order; an alert's own children are not searched.
void find_alerts(const xmlNode* n, std::vector<const xmlNode*>& out) {
  for (; n; n = n->next) {
    if (n->type != XML_ELEMENT_NODE) continue;
    if (name_of(n) == "alert" && cap_version_of(ns_of(n)))
      out.push_back(n);
    else
      find_alerts(n->children, out);  // the parse bounds the depth (CapOptions::max_depth)
  }
}

// An <alert> with no element and no text in it.
bool is_empty_element(const xmlNode* n) {
  for (const xmlNode* c = n->children; c; c = c->next) {
    if (c->type == XML_ELEMENT_NODE) return false;
    if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && !text_of(c).empty()) return false;
  }
  return true;
}

// ---- value checks ---------------------------------------------------------------------

bool one_of(std::string_view v, std::initializer_list<std::string_view> allowed) {
  return std::find(allowed.begin(), allowed.end(), v) != allowed.end();
}

bool is_digits(std::string_view s, std::size_t from, std::size_t n) {
  if (from + n > s.size()) return false;
  for (std::size_t i = from; i < from + n; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

// CAP's date-time form: YYYY-MM-DDThh:mm:ss followed by +hh:mm or -hh:mm (no "Z", no
// fractional seconds).
bool is_cap_datetime_form(std::string_view s) {
  return s.size() == 25 && is_digits(s, 0, 4) && s[4] == '-' && is_digits(s, 5, 2) && s[7] == '-' &&
         is_digits(s, 8, 2) && s[10] == 'T' && is_digits(s, 11, 2) && s[13] == ':' && is_digits(s, 14, 2) &&
         s[16] == ':' && is_digits(s, 17, 2) && (s[19] == '+' || s[19] == '-') && is_digits(s, 20, 2) && s[22] == ':' &&
         is_digits(s, 23, 2);
}

std::optional<double> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 40) return std::nullopt;
  std::string tmp(s);
  char* end = nullptr;
  const double v = std::strtod(tmp.c_str(), &end);
  if (end != tmp.c_str() + tmp.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::vector<std::string> split_ws(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::size_t j = i;
    while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::optional<std::array<double, 2>> parse_point(std::string_view s) {
  const auto comma = s.find(',');
  if (comma == std::string_view::npos) return std::nullopt;
  const auto lat = parse_number(s.substr(0, comma)), lon = parse_number(s.substr(comma + 1));
  if (!lat || !lon) return std::nullopt;
  return std::array<double, 2>{*lat, *lon};
}

bool in_range(const std::array<double, 2>& p) {
  return p[0] >= -90 && p[0] <= 90 && p[1] >= -180 && p[1] <= 180;
}

// ---- the walk -------------------------------------------------------------------------

class Walker {
 public:
  Walker(CapResult& r, std::string ns, ValidationMode mode) : r_(r), ns_(std::move(ns)), mode_(mode) {}

  void alert(const xmlNode* node) {
    static const std::vector<std::string_view> order = {
        "identifier",  "sender",    "sent", "status", "msgType",    "source",    "scope",
        "restriction", "addresses", "code", "note",   "references", "incidents", "info"};
    auto& a = r_.alert;
    Seen seen;
    for (const xmlNode* c = node->children; c; c = c->next) {
      if (!element_in_scope(c, "alert", order, seen)) continue;
      const auto n = name_of(c);
      if (n == "info") {
        a.infos.push_back(info(c, a.infos.size() + 1));
        continue;
      }
      std::string v = text_of(c);
      if (n == "code") {
        a.codes.push_back(std::move(v));
        continue;
      }
      if (!seen.first(n)) {
        warning("cap.structure", std::string(n),
                "<" + std::string(n) + "> appears more than once in <alert>; the first is used");
        continue;
      }
      if (n == "identifier")
        a.identifier = std::move(v);
      else if (n == "sender")
        a.sender = std::move(v);
      else if (n == "sent")
        a.sent = std::move(v);
      else if (n == "status")
        a.status = std::move(v);
      else if (n == "msgType")
        a.msg_type = std::move(v);
      else if (n == "source")
        a.source = std::move(v);
      else if (n == "scope")
        a.scope = std::move(v);
      else if (n == "restriction")
        a.restriction = std::move(v);
      else if (n == "addresses")
        a.addresses = std::move(v);
      else if (n == "note")
        a.note = std::move(v);
      else if (n == "incidents")
        a.incidents = std::move(v);
      else if (n == "references") {
        has_references_ = true;
        a.references = split_ws(v);
      }
    }
    check_alert();
  }

 private:
  // Tracks order and repeats of the children of one element.
  struct Seen {
    std::vector<std::string_view> names;
    std::size_t last_pos = 0;
    bool first(std::string_view n) {
      if (std::find(names.begin(), names.end(), n) != names.end()) return false;
      names.push_back(n);
      return true;
    }
  };

  // True for a CAP element of this parent we know; warns about unknown ones and order.
  bool element_in_scope(const xmlNode* c, std::string_view parent, const std::vector<std::string_view>& order,
                        Seen& seen) {
    if (c->type != XML_ELEMENT_NODE) return false;
    if (ns_of(c) != ns_) {
      if (name_of(c) == "Signature" && ns_of(c) == kDsigNs && parent == "alert")
        r_.is_signed = true;
      else
        warning(
            "cap.structure", std::string(name_of(c)),
            "<" + std::string(name_of(c)) + "> in <" + std::string(parent) + "> is not in the CAP namespace; ignored");
      return false;
    }
    const auto it = std::find(order.begin(), order.end(), name_of(c));
    if (it == order.end()) {
      warning("cap.structure", std::string(name_of(c)),
              "unknown element <" + std::string(name_of(c)) + "> in <" + std::string(parent) + ">; ignored");
      return false;
    }
    const auto pos = static_cast<std::size_t>(it - order.begin());
    if (pos < seen.last_pos)
      warning("cap.structure", std::string(name_of(c)),
              "<" + std::string(name_of(c)) + "> is out of order in <" + std::string(parent) +
                  "> (CAP fixes the element sequence)");
    seen.last_pos = std::max(seen.last_pos, pos);
    return true;
  }

  // An issue at the element being walked (context_, an XPath such as alert/info[1]/area[2]),
  // or at its child `element`; rule: what CAP rule it is (docs/decoders.md).
  std::string path_to(std::string_view element) const {
    return element.empty() ? context_ : context_ + "/" + std::string(element);
  }
  void error(std::string_view rule, std::string_view element, std::string m) {
    r_.errors.push_back({path_to(element), std::string(rule), std::move(m)});
  }
  void warning(std::string_view rule, std::string_view element, std::string m) {
    r_.warnings.push_back({path_to(element), std::string(rule), std::move(m)});
  }
  // Walks into a child element: context_ gets "/name[number]" until the scope ends.
  struct Within {
    Within(std::string& context, std::string_view name, std::size_t number) : context_(context), saved_(context) {
      context_ += "/" + std::string(name) + "[" + std::to_string(number) + "]";
    }
    ~Within() { context_ = saved_; }
    Within(const Within&) = delete;
    Within& operator=(const Within&) = delete;
    std::string& context_;
    std::string saved_;
  };

  void check_required(std::string_view where, std::string_view name, const std::string& value) {
    if (value.empty())
      error("cap.required", name, "<" + std::string(where) + "> is missing the required <" + std::string(name) + ">");
  }

  void check_enum(std::string_view where, std::string_view name, const std::string& value,
                  std::initializer_list<std::string_view> allowed) {
    if (value.empty()) return check_required(where, name, value);
    if (!one_of(value, allowed)) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      error("cap.enum", name, "<" + std::string(name) + "> \"" + value + "\" is not one of " + list);
    }
  }

  void check_id(std::string_view name, const std::string& v) {
    if (v.empty()) return check_required("alert", name, v);
    if (v.find_first_of(" ,<&\t\r\n") != std::string::npos)
      error("cap.identifier", name, "<" + std::string(name) + "> \"" + v + "\" contains a space, comma, '<' or '&'");
  }

  // A date-time without its zone offset: CAP requires the offset (CAP 1.2, 3.3.2), but real
  // CAP 1.1 feeds omit it. Strict: an error; lenient: a warning. Read as UTC either way.
  void missing_offset(std::string_view element, const std::string& what) {
    if (mode_ == ValidationMode::strict)
      error("cap.zone_offset", element, what + " has no zone offset (CAP requires +hh:mm or -hh:mm)");
    else
      warning("cap.zone_offset", element, what + " has no zone offset; read as UTC");
  }

  // Checks a date-time and returns it as an instant (nullopt when absent or invalid).
  std::optional<Timestamp> check_datetime(std::string_view name, const std::string& v) {
    if (v.empty()) return std::nullopt;
    if (const auto t = parse_rfc3339(v)) {
      if (!is_cap_datetime_form(v))
        warning("cap.datetime_form", name,
                "<" + std::string(name) + "> \"" + v +
                    "\" is a date-time but not in CAP's form (YYYY-MM-DDThh:mm:ss+hh:mm, no \"Z\", no fractions)");
      return t;
    }
    if (const auto t = parse_rfc3339(v + "Z")) {
      missing_offset(name, "<" + std::string(name) + "> \"" + v + "\"");
      return t;
    }
    error("cap.datetime", name, "<" + std::string(name) + "> \"" + v + "\" is not a valid date-time");
    return std::nullopt;
  }

  void check_alert() {
    auto& a = r_.alert;
    check_id("identifier", a.identifier);
    check_id("sender", a.sender);
    check_required("alert", "sent", a.sent);
    a.sent_utc = check_datetime("sent", a.sent);
    check_enum("alert", "status", a.status, {"Actual", "Exercise", "System", "Test", "Draft"});
    check_enum("alert", "msgType", a.msg_type, {"Alert", "Update", "Cancel", "Ack", "Error"});
    check_enum("alert", "scope", a.scope, {"Public", "Restricted", "Private"});
    if (a.scope == "Restricted" && !a.restriction)
      error("cap.scope", "restriction", "scope Restricted needs a <restriction>");
    if (a.scope == "Private" && !a.addresses) error("cap.scope", "addresses", "scope Private needs <addresses>");
    // An empty <references/> is common in Alerts (harmless); an Update or Cancel must say
    // what it updates.
    if (has_references_ && a.references.empty()) {
      if (one_of(a.msg_type, {"Update", "Cancel", "Ack", "Error"}))
        error("cap.references", "references",
              "<references> is empty; msgType " + a.msg_type + " must reference the message it concerns");
      else
        warning("cap.references", "references", "<references> is empty");
    }
    for (const auto& ref : a.references) check_reference(ref);
    if (!has_references_ && one_of(a.msg_type, {"Update", "Cancel", "Ack", "Error"}))
      warning("cap.references", "msgType",
              "msgType " + a.msg_type + " without <references> to the message it concerns");
  }

  std::vector<CapValue> value_pairs(const xmlNode* node, std::string_view what) {
    CapValue v;
    bool has_name = false;
    for (const xmlNode* c = node->children; c; c = c->next) {
      if (c->type != XML_ELEMENT_NODE || ns_of(c) != ns_) continue;
      if (name_of(c) == "valueName") {
        v.value_name = text_of(c);
        has_name = true;
      } else if (name_of(c) == "value") {
        v.value = text_of(c);
      }
    }
    if (!has_name || v.value_name.empty())
      error("cap.value_pair", what, "<" + std::string(what) + "> without a <valueName>");
    if (v.value.empty())
      warning("cap.value_pair", what, "<" + std::string(what) + "> \"" + v.value_name + "\" has an empty <value>");
    return {std::move(v)};
  }

  CapInfo info(const xmlNode* node, std::size_t number) {
    static const std::vector<std::string_view> order = {
        "language",    "category",    "event",     "responseType", "urgency",   "severity",   "certainty",
        "audience",    "eventCode",   "effective", "onset",        "expires",   "senderName", "headline",
        "description", "instruction", "web",       "contact",      "parameter", "resource",   "area"};
    CapInfo info;
    Seen seen;
    bool has_language = false;
    const std::string where = "info " + std::to_string(number);
    const Within within(context_, "info", number);
    std::size_t resources = 0;
    for (const xmlNode* c = node->children; c; c = c->next) {
      if (!element_in_scope(c, "info", order, seen)) continue;
      const auto n = name_of(c);
      if (n == "category") {
        info.category.push_back(text_of(c));
      } else if (n == "responseType") {
        info.response_type.push_back(text_of(c));
      } else if (n == "eventCode") {
        for (auto& v : value_pairs(c, "eventCode")) info.event_codes.push_back(std::move(v));
      } else if (n == "parameter") {
        for (auto& v : value_pairs(c, "parameter")) info.parameters.push_back(std::move(v));
      } else if (n == "resource") {
        check_resource(c, ++resources);
      } else if (n == "area") {
        info.areas.push_back(area(c, info.areas.size() + 1));
      } else if (!seen.first(n)) {
        warning("cap.structure", std::string(n),
                "<" + std::string(n) + "> appears more than once in <info>; the first is used");
      } else {
        std::string v = text_of(c);
        if (n == "language") {
          has_language = true;
          info.language = std::move(v);
        } else if (n == "event")
          info.event = std::move(v);
        else if (n == "urgency")
          info.urgency = std::move(v);
        else if (n == "severity")
          info.severity = std::move(v);
        else if (n == "certainty")
          info.certainty = std::move(v);
        else if (n == "audience")
          info.audience = std::move(v);
        else if (n == "effective")
          info.effective = std::move(v);
        else if (n == "onset")
          info.onset = std::move(v);
        else if (n == "expires")
          info.expires = std::move(v);
        else if (n == "senderName")
          info.sender_name = std::move(v);
        else if (n == "headline")
          info.headline = std::move(v);
        else if (n == "description")
          info.description = std::move(v);
        else if (n == "instruction")
          info.instruction = std::move(v);
        else if (n == "web")
          info.web = std::move(v);
        else if (n == "contact")
          info.contact = std::move(v);
      }
    }
    if (has_language && info.language.empty()) warning("cap.empty_element", "language", "empty <language> in " + where);
    if (info.category.empty()) error("cap.required", "category", "<" + where + "> is missing the required <category>");
    for (const auto& c : info.category)
      check_enum("info", "category", c,
                 {"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra", "CBRNE",
                  "Other"});
    check_required(where, "event", info.event);
    for (const auto& rt : info.response_type)
      check_enum("info", "responseType", rt,
                 {"Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None"});
    check_enum(where, "urgency", info.urgency, {"Immediate", "Expected", "Future", "Past", "Unknown"});
    check_enum(where, "severity", info.severity, {"Extreme", "Severe", "Moderate", "Minor", "Unknown"});
    if (info.certainty == "Very Likely")
      warning("cap.deprecated", "certainty", "certainty \"Very Likely\" is deprecated (CAP 1.1); use \"Likely\"");
    else
      check_enum(where, "certainty", info.certainty, {"Observed", "Likely", "Possible", "Unlikely", "Unknown"});
    if (info.effective) check_datetime("effective", *info.effective);
    if (info.onset) check_datetime("onset", *info.onset);
    const auto expires = info.expires ? check_datetime("expires", *info.expires) : std::nullopt;
    if (expires && r_.alert.sent_utc && *expires < *r_.alert.sent_utc)
      warning("cap.expires", "expires", "<expires> of " + where + " is before <sent>");
    if (info.web && info.web->find("://") == std::string::npos)
      warning("cap.web", "web", "<web> \"" + *info.web + "\" is not an absolute URI");
    return info;
  }

  void check_resource(const xmlNode* node, std::size_t number) {
    const Within within(context_, "resource", number);
    bool desc = false, mime = false;
    for (const xmlNode* c = node->children; c; c = c->next) {
      if (c->type != XML_ELEMENT_NODE || ns_of(c) != ns_) continue;
      if (name_of(c) == "resourceDesc" && !text_of(c).empty()) desc = true;
      if (name_of(c) == "mimeType" && !text_of(c).empty()) mime = true;
    }
    if (!desc) error("cap.required", "resourceDesc", "<resource> is missing the required <resourceDesc>");
    if (!mime) error("cap.required", "mimeType", "<resource> is missing the required <mimeType>");
  }

  // One reference: sender,identifier,sent. The error names what is wrong with it.
  void check_reference(const std::string& ref) {
    const auto bad = [&](const std::string& why) {
      error("cap.references", "references", "reference \"" + ref + "\" " + why);
    };
    const auto parts = std::count(ref.begin(), ref.end(), ',') + 1;
    if (parts != 3)
      return bad("has " + std::to_string(parts) + " part" + (parts == 1 ? "" : "s") +
                 "; a reference is a sender,identifier,sent triplet");
    const auto c1 = ref.find(','), c2 = ref.find(',', c1 + 1);
    if (c1 == 0) return bad("has an empty sender");
    if (c2 == c1 + 1) return bad("has an empty identifier");
    const std::string sent = ref.substr(c2 + 1);
    if (sent.empty()) return bad("has an empty sent time");
    if (parse_rfc3339(sent)) return;
    // The date-time form without its zone, which real feeds send: say that, not "not a triplet".
    if (parse_rfc3339(sent + "Z")) return missing_offset("references", "reference \"" + ref + "\": its sent time");
    bad("has a sent time \"" + sent + "\" that is not a date-time");
  }

  CapArea area(const xmlNode* node, std::size_t number) {
    const Within within(context_, "area", number);
    static const std::vector<std::string_view> order = {"areaDesc", "polygon",  "circle",
                                                        "geocode",  "altitude", "ceiling"};
    CapArea a;
    Seen seen;
    bool has_desc = false;
    for (const xmlNode* c = node->children; c; c = c->next) {
      if (!element_in_scope(c, "area", order, seen)) continue;
      const auto n = name_of(c);
      const std::string v = text_of(c);
      if (n == "areaDesc") {
        has_desc = !v.empty();
        a.area_desc = v;
      } else if (n == "polygon") {
        polygon(v, a);
      } else if (n == "circle") {
        circle(v, a);
      } else if (n == "geocode") {
        for (auto& g : value_pairs(c, "geocode")) a.geocodes.push_back(std::move(g));
      } else if (n == "altitude" || n == "ceiling") {
        const auto num = parse_number(v);
        if (!num) error("cap.number", n, "<" + std::string(n) + "> \"" + v + "\" is not a number");
        (n == "altitude" ? a.altitude : a.ceiling) = num;
      }
    }
    if (!has_desc) error("cap.required", "areaDesc", "<area> is missing the required <areaDesc>");
    if (a.ceiling && !a.altitude) error("cap.ceiling", "ceiling", "<ceiling> without <altitude>");
    return a;
  }

  void polygon(const std::string& text, CapArea& a) {
    std::vector<std::array<double, 2>> ring;
    for (const auto& token : split_ws(text)) {
      const auto p = parse_point(token);
      if (!p) return error("cap.polygon", "polygon", "polygon point \"" + token + "\" is not \"lat,lon\"");
      if (!in_range(*p))
        return error("cap.polygon", "polygon", "polygon point \"" + token + "\" is outside -90..90, -180..180");
      ring.push_back(*p);
    }
    if (ring.size() < 4)
      return error("cap.polygon", "polygon",
                   "polygon has " + std::to_string(ring.size()) + " points; at least 4 needed");
    if (ring.front() != ring.back())
      return error("cap.polygon", "polygon", "polygon is not closed (first and last points differ)");
    a.polygons.push_back(std::move(ring));
  }

  void circle(const std::string& text, CapArea& a) {
    // Schema-valid (a string), and says nothing: a warning, as other empty elements are.
    if (split_ws(text).empty()) return warning("cap.empty_element", "circle", "empty <circle> in <area>");
    const auto parts = split_ws(text);
    const auto p = parts.size() == 2 ? parse_point(parts[0]) : std::nullopt;
    const auto radius = parts.size() == 2 ? parse_number(parts[1]) : std::nullopt;
    if (!p || !radius) return error("cap.circle", "circle", "circle \"" + text + "\" is not \"lat,lon radius\"");
    if (!in_range(*p) || *radius < 0) return error("cap.circle", "circle", "circle \"" + text + "\" is out of range");
    a.circles.push_back({(*p)[0], (*p)[1], *radius});
  }

  CapResult& r_;
  std::string context_ = "alert";
  std::string ns_;
  ValidationMode mode_;
  bool has_references_ = false;
};

// ---- output ---------------------------------------------------------------------------

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}
void put(Writer& w, const std::string& s) {
  put(w, std::string_view(s));
}
void put(Writer& w, const std::optional<std::string>& s) {
  if (s)
    put(w, *s);
  else
    w.Null();
}
void put_strings(Writer& w, const std::vector<std::string>& v) {
  w.StartArray();
  for (const auto& s : v) put(w, s);
  w.EndArray();
}
// Issues as their messages: the JSON (`wis2mon decode cap`) keeps the strings it always had;
// the structured issues are in CapResult and the Python package.
void put_messages(Writer& w, const std::vector<ValidationIssue>& v) {
  w.StartArray();
  for (const auto& i : v) put(w, i.message);
  w.EndArray();
}
void put_values(Writer& w, const std::vector<CapValue>& v) {
  w.StartArray();
  for (const auto& p : v) {
    w.StartObject();
    w.Key("value_name");
    put(w, p.value_name);
    w.Key("value");
    put(w, p.value);
    w.EndObject();
  }
  w.EndArray();
}
void put_polygons(Writer& w, const CapArea& a) {
  w.StartArray();
  for (const auto& ring : a.polygons) {
    w.StartArray();
    for (const auto& p : ring) {
      w.StartArray();
      w.Double(p[0]);
      w.Double(p[1]);
      w.EndArray();
    }
    w.EndArray();
  }
  w.EndArray();
}
void put_circles(Writer& w, const CapArea& a) {
  w.StartArray();
  for (const auto& c : a.circles) {
    w.StartObject();
    w.Key("lat");
    w.Double(c.lat);
    w.Key("lon");
    w.Double(c.lon);
    w.Key("radius_km");
    w.Double(c.radius_km);
    w.EndObject();
  }
  w.EndArray();
}

// "valid", "errors", "warnings": the end of an alert's and of a document's object.
void put_verdict(Writer& w, bool valid, const std::vector<ValidationIssue>& errors,
                 const std::vector<ValidationIssue>& warnings) {
  w.Key("valid");
  w.Bool(valid);
  w.Key("errors");
  put_messages(w, errors);
  w.Key("warnings");
  put_messages(w, warnings);
}

template <typename F>
std::string json_of(F&& body) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  body(w);
  return {buf.GetString(), buf.GetSize()};
}

// As the walk reads it: a time without its zone offset is UTC (an error or a warning there).
FieldValue time_or_null(const std::optional<std::string>& s) {
  if (!s || s->empty()) return {};
  if (auto t = parse_rfc3339(*s)) return *t;
  if (auto t = parse_rfc3339(*s + "Z")) return *t;
  return {};
}
FieldValue text_or_null(const std::optional<std::string>& s) {
  return s ? FieldValue(*s) : FieldValue();
}
std::string joined(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

}  // namespace

CapDocument decode_cap_document(std::string_view xml, const CapOptions& options) {
  init_libxml();
  CapDocument d;
  if (xml.size() > options.max_input_bytes) {
    d.errors.push_back({"", "cap.document",
                        "document is " + std::to_string(xml.size()) + " bytes, more than the limit of " +
                            std::to_string(options.max_input_bytes)});
    return d;
  }
  if (xml.empty()) {
    d.errors.push_back({"", "cap.document", "empty document"});
    return d;
  }
  std::unique_ptr<xmlParserCtxt, CtxtDeleter> ctxt(xmlNewParserCtxt());
  if (!ctxt || !ctxt->sax) {
    d.errors.push_back({"", "cap.document", "out of memory"});
    return d;
  }
  ParseState state;
  state.ctxt = ctxt.get();
  state.max_depth = options.max_depth;
  ctxt->sax->internalSubset = &on_internal_subset;
  ctxt->sax->startElementNs = &on_start_element;
  ctxt->sax->endElementNs = &on_end_element;
  ctxt->sax->serror = &on_error;
  ctxt->sax->warning = nullptr;
  t_state = &state;
  // No NOENT (entities stay unexpanded), no DTDLOAD/DTDATTR/XINCLUDE, no HUGE; NONET too.
  DocPtr doc(xmlCtxtReadMemory(ctxt.get(), xml.data(), static_cast<int>(xml.size()), "cap.xml", nullptr,
                               XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_COMPACT | XML_PARSE_NOWARNING));
  t_state = nullptr;

  if (state.doctype || (doc && (doc->intSubset || doc->extSubset))) {
    d.errors.push_back(
        {"", "cap.document", "document has a DOCTYPE; CAP documents must not (refused without reading it)"});
    return d;
  }
  if (state.too_deep) {
    d.errors.push_back(
        {"", "cap.document", "elements nested deeper than " + std::to_string(options.max_depth) + " levels"});
    return d;
  }
  if (!doc || !ctxt->wellFormed) {
    std::string m = "not well-formed XML";
    if (!state.messages.empty()) m += ": " + state.messages.front();
    d.errors.push_back({"", "cap.document", m});
    return d;
  }
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!root) {
    d.errors.push_back({"", "cap.document", "document has no root element"});
    return d;
  }
  std::vector<const xmlNode*> found;
  find_alerts(root, found);
  if (found.empty()) {
    std::string what = "<" + std::string(name_of(root)) + ">";
    if (!ns_of(root).empty()) what += " in namespace \"" + std::string(ns_of(root)) + "\"";
    d.errors.push_back({"", "cap.document", "not a CAP alert: the root element is " + what});
    return d;
  }
  const bool wrapped = found.front() != root;
  if (wrapped) d.container = std::string(name_of(root));
  for (std::size_t i = 0; i < found.size(); ++i) {
    CapResult r;
    r.position = wrapped ? static_cast<int>(i + 1) : 0;
    r.cap_version = cap_version_of(ns_of(found[i]));
    if (r.cap_version != "1.2")
      r.warnings.push_back({"alert", "cap.version", "CAP " + r.cap_version + " (current version is 1.2)"});
    if (is_empty_element(found[i])) {
      r.empty = true;
      r.errors.push_back({"alert", "cap.empty", "the <alert> element is empty"});
    } else {
      Walker(r, std::string(ns_of(found[i])), options.mode).alert(found[i]);
    }
    d.alerts.push_back(std::move(r));
  }
  if (state.loads_refused > 0)
    d.warnings.push_back(
        {"", "cap.document", std::to_string(state.loads_refused) + " external resource load(s) refused"});
  return d;
}

CapResult decode_cap(std::string_view xml, const CapOptions& options) {
  auto d = decode_cap_document(xml, options);
  CapResult r;
  if (!d.alerts.empty()) r = std::move(d.alerts.front());
  std::vector<ValidationIssue> warnings;
  if (!d.container.empty()) {
    std::string w = "the alert is wrapped in <" + d.container + ">";
    if (d.alerts.size() > 1)
      w += " with " + std::to_string(d.alerts.size()) +
           " alerts; only the first is decoded here (decode_cap_document decodes every one)";
    warnings.push_back({"", "cap.document", std::move(w)});
  }
  for (auto& w : r.warnings) warnings.push_back(std::move(w));
  for (auto& w : d.warnings) warnings.push_back(std::move(w));
  r.warnings = std::move(warnings);
  for (auto& e : d.errors) r.errors.push_back(std::move(e));
  return r;
}

bool CapDocument::valid() const noexcept {
  if (!errors.empty()) return false;
  return std::all_of(alerts.begin(), alerts.end(), [](const CapResult& a) { return a.valid(); });
}

std::string CapDocument::to_json() const {
  std::string alerts_json;
  for (const auto& a : alerts) alerts_json += (alerts_json.empty() ? "" : ",") + a.to_json();
  std::string head = json_of([this](Writer& w) {
    w.StartObject();
    w.Key("container");
    put(w, container);
    put_verdict(w, valid(), errors, warnings);
    w.EndObject();
  });
  head.pop_back();  // the closing brace: the alerts (already JSON) go in before it
  return head + ",\"alerts\":[" + alerts_json + "]}";
}

std::vector<Record> CapDocument::to_records() const {
  std::vector<Record> out;
  for (const auto& a : alerts)
    for (auto& r : a.to_records()) out.push_back(std::move(r));
  return out;
}

std::string CapResult::to_json() const {
  return json_of([this](Writer& w) {
    const auto& a = alert;
    w.StartObject();
    w.Key("identifier");
    put(w, a.identifier);
    w.Key("sender");
    put(w, a.sender);
    w.Key("sent");
    put(w, a.sent);
    w.Key("sent_utc");
    if (a.sent_utc)
      put(w, format_rfc3339(*a.sent_utc));
    else
      w.Null();
    w.Key("status");
    put(w, a.status);
    w.Key("msg_type");
    put(w, a.msg_type);
    w.Key("scope");
    put(w, a.scope);
    w.Key("references");
    put_strings(w, a.references);
    w.Key("cap_version");
    put(w, cap_version);
    w.Key("signed");
    w.Bool(is_signed);
    w.Key("position");
    w.Int(position);
    w.Key("infos");
    w.StartArray();
    for (const auto& i : a.infos) {
      w.StartObject();
      w.Key("language");
      put(w, i.language);
      w.Key("category");
      put_strings(w, i.category);
      w.Key("event");
      put(w, i.event);
      w.Key("response_type");
      put_strings(w, i.response_type);
      w.Key("urgency");
      put(w, i.urgency);
      w.Key("severity");
      put(w, i.severity);
      w.Key("certainty");
      put(w, i.certainty);
      w.Key("effective");
      put(w, i.effective);
      w.Key("onset");
      put(w, i.onset);
      w.Key("expires");
      put(w, i.expires);
      w.Key("sender_name");
      put(w, i.sender_name);
      w.Key("headline");
      put(w, i.headline);
      w.Key("description");
      put(w, i.description);
      w.Key("instruction");
      put(w, i.instruction);
      w.Key("web");
      put(w, i.web);
      w.Key("event_codes");
      put_values(w, i.event_codes);
      w.Key("parameters");
      put_values(w, i.parameters);
      w.Key("areas");
      w.StartArray();
      for (const auto& ar : i.areas) {
        w.StartObject();
        w.Key("area_desc");
        put(w, ar.area_desc);
        w.Key("polygons");
        put_polygons(w, ar);
        w.Key("circles");
        put_circles(w, ar);
        w.Key("geocodes");
        put_values(w, ar.geocodes);
        w.EndObject();
      }
      w.EndArray();
      w.EndObject();
    }
    w.EndArray();
    put_verdict(w, valid(), errors, warnings);
    w.EndObject();
  });
}

const RecordSchemaPtr& cap_alerts_schema() {
  static const RecordSchemaPtr schema = std::make_shared<const RecordSchema>(
      "cap_alerts",
      std::vector<std::string>{"identifier", "sender",      "sent",        "status",   "msg_type",    "scope",
                               "references", "info_index",  "language",    "category", "event",       "urgency",
                               "severity",   "certainty",   "effective",   "onset",    "expires",     "sender_name",
                               "headline",   "description", "instruction", "web",      "event_codes", "parameters",
                               "area_count", "valid"},
      SchemaHints{{"sender", "identifier", "info_index"},
                  "sent",
                  {"sender", "severity", "urgency", "certainty"},
                  {{"sent"}},
                  "valid"});
  return schema;
}

const RecordSchemaPtr& cap_areas_schema() {
  static const RecordSchemaPtr schema = std::make_shared<const RecordSchema>(
      "cap_areas",
      std::vector<std::string>{"identifier", "sent", "info_index", "area_index", "area_desc", "polygons", "circles",
                               "geocodes", "min_lat", "min_lon", "max_lat", "max_lon"},
      SchemaHints{{"identifier", "sent", "info_index", "area_index"}, "sent", {"identifier"}, {{"sent"}}});
  return schema;
}

std::vector<Record> CapResult::to_records() const {
  std::vector<Record> out;
  if (cap_version.empty() || empty) return out;
  const auto& a = alert;
  const auto alert_row = [&](const CapInfo* info, std::int64_t info_index) {
    Record r(cap_alerts_schema());
    r.set("identifier", a.identifier);
    r.set("sender", a.sender);
    r.set("sent", a.sent_utc ? FieldValue(*a.sent_utc) : FieldValue());
    r.set("status", a.status);
    r.set("msg_type", a.msg_type);
    r.set("scope", a.scope);
    r.set("references", joined(a.references, " "));
    r.set("info_index", info ? FieldValue(info_index) : FieldValue());
    r.set("language", info ? FieldValue(info->language) : FieldValue());
    r.set("category", info ? FieldValue(joined(info->category, ",")) : FieldValue());
    r.set("event", info ? FieldValue(info->event) : FieldValue());
    r.set("urgency", info ? FieldValue(info->urgency) : FieldValue());
    r.set("severity", info ? FieldValue(info->severity) : FieldValue());
    r.set("certainty", info ? FieldValue(info->certainty) : FieldValue());
    r.set("effective", info ? time_or_null(info->effective) : FieldValue());
    r.set("onset", info ? time_or_null(info->onset) : FieldValue());
    r.set("expires", info ? time_or_null(info->expires) : FieldValue());
    r.set("sender_name", info ? text_or_null(info->sender_name) : FieldValue());
    r.set("headline", info ? text_or_null(info->headline) : FieldValue());
    r.set("description", info ? text_or_null(info->description) : FieldValue());
    r.set("instruction", info ? text_or_null(info->instruction) : FieldValue());
    r.set("web", info ? text_or_null(info->web) : FieldValue());
    r.set("event_codes",
          info ? FieldValue(json_of([&](Writer& w) { put_values(w, info->event_codes); })) : FieldValue());
    r.set("parameters", info ? FieldValue(json_of([&](Writer& w) { put_values(w, info->parameters); })) : FieldValue());
    r.set("area_count", static_cast<std::int64_t>(info ? info->areas.size() : 0));
    r.set("valid", valid());
    return r;
  };
  if (a.infos.empty()) out.push_back(alert_row(nullptr, 0));
  for (std::size_t i = 0; i < a.infos.size(); ++i)
    out.push_back(alert_row(&a.infos[i], static_cast<std::int64_t>(i + 1)));
  for (std::size_t i = 0; i < a.infos.size(); ++i) {
    for (std::size_t k = 0; k < a.infos[i].areas.size(); ++k) {
      const auto& ar = a.infos[i].areas[k];
      Record r(cap_areas_schema());
      r.set("identifier", a.identifier);
      r.set("sent", a.sent_utc ? FieldValue(*a.sent_utc) : FieldValue());
      r.set("info_index", static_cast<std::int64_t>(i + 1));
      r.set("area_index", static_cast<std::int64_t>(k + 1));
      r.set("area_desc", ar.area_desc);
      r.set("polygons", json_of([&](Writer& w) { put_polygons(w, ar); }));
      r.set("circles", json_of([&](Writer& w) { put_circles(w, ar); }));
      r.set("geocodes", json_of([&](Writer& w) { put_values(w, ar.geocodes); }));
      // Bounding box of the geometry (polygons and circles), for "alerts near me" queries.
      double min_lat = 91, max_lat = -91, min_lon = 181, max_lon = -181;
      const auto grow = [&](double lat, double lon) {
        min_lat = std::min(min_lat, lat), max_lat = std::max(max_lat, lat);
        min_lon = std::min(min_lon, lon), max_lon = std::max(max_lon, lon);
      };
      for (const auto& ring : ar.polygons)
        for (const auto& p : ring) grow(p[0], p[1]);
      for (const auto& c : ar.circles) {
        const double dlat = c.radius_km / 111.2;
        const double coslat = std::cos(c.lat * 3.14159265358979323846 / 180.0);
        const double dlon = coslat > 1e-6 ? std::min(180.0, dlat / coslat) : 180.0;
        grow(std::max(-90.0, c.lat - dlat), std::max(-180.0, c.lon - dlon));
        grow(std::min(90.0, c.lat + dlat), std::min(180.0, c.lon + dlon));
      }
      const bool has_box = min_lat <= max_lat;
      r.set("min_lat", has_box ? FieldValue(min_lat) : FieldValue());
      r.set("min_lon", has_box ? FieldValue(min_lon) : FieldValue());
      r.set("max_lat", has_box ? FieldValue(max_lat) : FieldValue());
      r.set("max_lon", has_box ? FieldValue(max_lon) : FieldValue());
      out.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace wis2mon
