// Boost.URL's compiled part. Debian ships Boost.URL 1.81 as headers only, so it
// is built here, once: modules that parse URLs (query strings in api/) link
// insightd_net instead of compiling this file again, which would define its
// symbols twice.
#include <boost/url/src.hpp>
