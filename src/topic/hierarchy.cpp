// Loading the WIS2 Topic Hierarchy tables from a folder or the published bundle zip.
//
// Both sources are read into one map of relative path -> file text, then interpreted the
// same way: centre-id.csv gives the centre list; a flat earth-system-discipline.csv (the
// bundle) or the earth-system-discipline/…/index.csv tree (the repository) gives the
// sub-discipline paths, with index-flat.csv listing satellite/instrument pairs.
#include <zip.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <unordered_set>

#include "common/csv.hpp"
#include "common/file.hpp"
#include "common/text.hpp"
#include "wis2mon/error.hpp"
#include "wis2mon/topic.hpp"

namespace fs = std::filesystem;

namespace wis2mon {
namespace {

using Files = std::map<std::string, std::string>;  // relative path ('/' separated) -> text
constexpr std::size_t kMaxFiles = 20000;
constexpr std::uintmax_t kMaxFileBytes = 16 << 20;

Files files_from_dir(const fs::path& root) {
  Files files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->path().extension() != ".csv") continue;
    if (files.size() >= kMaxFiles) throw Error(ErrorCode::parse, "too many files under " + root.string());
    if (it->file_size(ec) > kMaxFileBytes) continue;
    files[fs::relative(it->path(), root).generic_string()] = detail::read_file(it->path());
  }
  if (ec) throw Error(ErrorCode::io, "cannot list " + root.string() + ": " + ec.message());
  return files;
}

Files files_from_zip(const fs::path& path) {
  int err = 0;
  std::unique_ptr<zip_t, decltype(&zip_discard)> z(zip_open(path.c_str(), ZIP_RDONLY, &err), &zip_discard);
  if (!z)
    throw Error(ErrorCode::io, "cannot open zip " + path.string() + " (libzip error " + std::to_string(err) + ")");
  Files files;
  const zip_int64_t n = zip_get_num_entries(z.get(), 0);
  for (zip_int64_t i = 0; i < n && files.size() < kMaxFiles; ++i) {
    zip_stat_t st;
    if (zip_stat_index(z.get(), static_cast<zip_uint64_t>(i), 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) ||
        !(st.valid & ZIP_STAT_SIZE))
      continue;
    const std::string name = st.name;
    if (name.size() < 4 || name.compare(name.size() - 4, 4, ".csv") != 0 || st.size > kMaxFileBytes) continue;
    std::unique_ptr<zip_file_t, decltype(&zip_fclose)> f(zip_fopen_index(z.get(), static_cast<zip_uint64_t>(i), 0),
                                                         &zip_fclose);
    if (!f) continue;
    std::string text(st.size, '\0');
    const zip_int64_t got = zip_fread(f.get(), text.data(), st.size);
    if (got < 0) throw Error(ErrorCode::parse, "cannot read " + name + " from " + path.string());
    text.resize(static_cast<std::size_t>(got));
    files[name] = std::move(text);
  }
  return files;
}

std::string basename_of(const std::string& rel) {
  const auto slash = rel.rfind('/');
  return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

using detail::ascii_lower;

int column(const detail::CsvRow& header, std::string_view name) {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (ascii_lower(header[i]) == name) return static_cast<int>(i);
  return -1;
}

}  // namespace

struct TopicHierarchy::Tables {
  std::unordered_set<std::string> centres;
  std::unordered_set<std::string> paths;    // "weather/surface-based-observations/synop", every prefix too
  std::unordered_set<std::string> parents;  // paths that have children

  void add_path(std::string path) {
    path = ascii_lower(std::move(path));
    while (!path.empty() && path.back() == '/') path.pop_back();
    if (path.empty()) return;
    for (auto slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
      paths.insert(path.substr(0, slash));
      parents.insert(path.substr(0, slash));
    }
    paths.insert(path);
  }

  void read_flat(const std::string& text) {
    const auto rows = detail::parse_csv(text);
    if (rows.empty()) return;
    const auto& h = rows[0];
    const int path_col = column(h, "path");
    const int name_col = column(h, "name") >= 0 ? column(h, "name") : 0;
    const int parent_col = column(h, "parent");
    for (std::size_t r = 1; r < rows.size(); ++r) {
      const auto& row = rows[r];
      auto get = [&](int c) { return c >= 0 && static_cast<std::size_t>(c) < row.size() ? row[c] : std::string(); };
      if (path_col >= 0)
        add_path(get(path_col));
      else if (parent_col >= 0 && !get(parent_col).empty())
        add_path(get(parent_col) + "/" + get(name_col));
      else
        add_path(get(name_col));
    }
  }

  // index.csv under earth-system-discipline/<dir>/ lists the children of <dir>.
  void read_tree(const Files& files) {
    constexpr std::string_view kRoot = "earth-system-discipline/";
    for (const auto& [rel, text] : files) {
      const auto at = rel.find(kRoot);
      if (at == std::string::npos || (at > 0 && rel[at - 1] != '/')) continue;
      const std::string inner = rel.substr(at + kRoot.size());  // "weather/index.csv"
      const std::string base = basename_of(inner);
      const std::string dir = inner.size() > base.size() ? inner.substr(0, inner.size() - base.size() - 1) : "";
      const std::string prefix = dir.empty() ? "" : dir + "/";
      const auto rows = detail::parse_csv(text);
      if (rows.empty()) continue;
      if (base == "index.csv") {
        const int name_col = column(rows[0], "name") >= 0 ? column(rows[0], "name") : 0;
        for (std::size_t r = 1; r < rows.size(); ++r)
          if (static_cast<std::size_t>(name_col) < rows[r].size() && !rows[r][name_col].empty())
            add_path(prefix + rows[r][name_col]);
      } else if (base == "index-flat.csv") {
        const int sat = column(rows[0], "satellite"), ins = column(rows[0], "instrument");
        for (std::size_t r = 1; r < rows.size(); ++r) {
          const auto& row = rows[r];
          if (sat < 0 || static_cast<std::size_t>(sat) >= row.size() || row[sat].empty()) continue;
          if (ins >= 0 && static_cast<std::size_t>(ins) < row.size() && !row[ins].empty())
            add_path(prefix + row[sat] + "/" + row[ins]);
          else
            add_path(prefix + row[sat]);
        }
      }
    }
  }

  void read(const Files& files) {
    // Prefer the shallowest copy of each table when several exist.
    const std::string* centre_file = nullptr;
    const std::string* flat_file = nullptr;
    std::size_t centre_depth = SIZE_MAX, flat_depth = SIZE_MAX;
    for (const auto& [rel, text] : files) {
      const auto depth = static_cast<std::size_t>(std::count(rel.begin(), rel.end(), '/'));
      const auto base = basename_of(rel);
      if (base == "centre-id.csv" && depth < centre_depth) centre_file = &text, centre_depth = depth;
      if ((base == "earth-system-discipline.csv" || base == "earth-system-discipline-flattened.csv") &&
          depth < flat_depth)
        flat_file = &text, flat_depth = depth;
    }
    if (centre_file) {
      const auto rows = detail::parse_csv(*centre_file);
      const int name_col = rows.empty() || column(rows[0], "name") < 0 ? 0 : column(rows[0], "name");
      for (std::size_t r = 1; r < rows.size(); ++r)
        if (static_cast<std::size_t>(name_col) < rows[r].size() && !rows[r][name_col].empty())
          centres.insert(ascii_lower(rows[r][name_col]));
    }
    if (flat_file)
      read_flat(*flat_file);
    else
      read_tree(files);
  }
};

TopicHierarchy::TopicHierarchy() : tables_(std::make_unique<Tables>()) {}
TopicHierarchy::~TopicHierarchy() = default;
TopicHierarchy::TopicHierarchy(TopicHierarchy&&) noexcept = default;
TopicHierarchy& TopicHierarchy::operator=(TopicHierarchy&&) noexcept = default;

TopicHierarchy TopicHierarchy::load(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ErrorCode::not_found, "topic hierarchy not found: " + path.string());
  const Files files = fs::is_directory(path, ec) ? files_from_dir(path) : files_from_zip(path);
  TopicHierarchy h;
  h.tables_->read(files);
  if (h.tables_->centres.empty() && h.tables_->paths.empty())
    throw Error(ErrorCode::parse, "no centre-id or earth-system-discipline table found in " + path.string());
  return h;
}

fs::path TopicHierarchy::default_location() {
  if (const char* env = std::getenv("WIS2MON_TOPIC_HIERARCHY"); env && *env) return env;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return fs::path(xdg) / "wis2mon" / "wth-bundle.zip";
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : ".") / ".cache" / "wis2mon" / "wth-bundle.zip";
}

bool TopicHierarchy::has_centres() const noexcept {
  return !tables_->centres.empty();
}
bool TopicHierarchy::has_sub_topics() const noexcept {
  return !tables_->paths.empty();
}
std::size_t TopicHierarchy::centre_count() const noexcept {
  return tables_->centres.size();
}
std::size_t TopicHierarchy::sub_topic_count() const noexcept {
  return tables_->paths.size();
}

bool TopicHierarchy::is_known_centre(std::string_view centre_id) const noexcept {
  std::string id = ascii_lower(std::string(centre_id));
  if (tables_->centres.count(id)) return true;
  constexpr std::string_view kTest = "-test";
  if (id.size() > kTest.size() && std::string_view(id).substr(id.size() - kTest.size()) == kTest)
    return tables_->centres.count(id.substr(0, id.size() - kTest.size())) > 0;
  return false;
}

TopicHierarchy::PathStatus TopicHierarchy::sub_topic_status(const std::vector<std::string>& levels) const {
  if (tables_->paths.empty()) return PathStatus::known;
  std::string path;
  bool last_known = false;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const std::string level = ascii_lower(levels[i]);
    if (level == "experimental" && i > 0) return PathStatus::experimental;
    std::string next = path.empty() ? level : path + "/" + level;
    if (!tables_->paths.count(next)) {
      // Past a leaf of the tree vs. a wrong name where the tree has other children.
      if (last_known && !tables_->parents.count(path)) return PathStatus::beyond_leaf;
      return PathStatus::unknown;
    }
    path = std::move(next);
    last_known = true;
  }
  return PathStatus::known;
}

}  // namespace wis2mon
