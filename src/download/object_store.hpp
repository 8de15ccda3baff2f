// The atomic object write behind store_object, with a hook for what must be attached to the
// object before it appears under its name (the Global Cache's content type).
#pragma once

#include <filesystem>
#include <functional>
#include <string_view>

namespace wis2mon::detail {

/// Writes bytes to dir/storage_path_for(data_id) through a hidden temporary file renamed into
/// place. before_rename (if set) gets the temporary file's descriptor and the final path; an
/// exception from it abandons the write. Returns the final path; throws Error(io).
std::filesystem::path store_object_file(
    const std::filesystem::path& dir, std::string_view data_id, std::string_view bytes, bool fsync_object,
    const std::function<void(int fd, const std::filesystem::path& target)>& before_rename);

}  // namespace wis2mon::detail
