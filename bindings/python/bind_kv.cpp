// (bindings) vqcodec.KVCache: the C++ vq::kv::KVCache with numpy shapes (tokens, heads, dim).
// Compute calls release the GIL, so Python threads can read (scores/topk/attend) while one
// thread appends, under the C++ one-writer / many-readers contract.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "arrays.h"
#include "vq/kv/kv_cache.h"

namespace vq::py {

namespace {

// A (T, heads, dim) float array as a contiguous float32 copy or view.
FloatArray as_tokens(const pyb::handle& obj, const char* name, size_t heads, size_t dim) {
  if (!pyb::isinstance<pyb::array>(obj))
    throw pyb::type_error(std::string(name) + ": expected a numpy array, got " +
                          std::string(pyb::str(obj.get_type().attr("__name__"))));
  auto a = pyb::reinterpret_borrow<pyb::array>(obj);
  if (a.dtype().kind() != 'f')
    throw pyb::type_error(std::string(name) + ": expected a float32 or float64 array, got dtype " +
                          std::string(pyb::str(a.dtype())));
  if (a.ndim() != 3)
    throw pyb::value_error(std::string(name) + ": expected a 3-D array (tokens, heads, head_dim), got " +
                           std::to_string(a.ndim()) + "-D");
  if ((heads && size_t(a.shape(1)) != heads) || size_t(a.shape(2)) != dim)
    throw pyb::value_error(std::string(name) + ": expected shape (tokens, " +
                           (heads ? std::to_string(heads) : std::string("q_heads")) + ", " +
                           std::to_string(dim) + "), got (" + std::to_string(a.shape(0)) + ", " +
                           std::to_string(a.shape(1)) + ", " + std::to_string(a.shape(2)) + ")");
  return FloatArray::ensure(a);
}

MatrixView<const float> token_rows(const FloatArray& a) {
  return {a.data(), size_t(a.shape(0)), size_t(a.shape(1) * a.shape(2))};
}

// q_heads rows of token ids (row-major, as topk() returns them) as an int64 array.
pyb::array_t<int64_t> ids_array(const std::vector<idx_t>& ids, size_t rows) {
  const size_t cols = rows ? ids.size() / rows : 0;
  pyb::array_t<int64_t> out({rows, cols});
  std::copy(ids.begin(), ids.end(), out.mutable_data());
  return out;
}

pyb::array_t<float> to_numpy(const Matrix& m) {
  pyb::array_t<float> out({m.rows(), m.cols()});
  std::copy(m.data(), m.data() + m.rows() * m.cols(), out.mutable_data());
  return out;
}

std::unique_ptr<kv::KVCache> make_cache(size_t kv_heads, size_t head_dim, const std::string& key_q,
                                        const std::optional<std::string>& value_q, bool query_aware,
                                        const std::optional<std::string>& cold, const std::string& rope,
                                        size_t rope_window, double rope_base, const std::string& rope_style,
                                        size_t page_tokens, int iters, uint64_t seed,
                                        const std::optional<std::string>& key_residual_q) {
  kv::KVCacheConfig c;
  c.kv_heads = kv_heads;
  c.head_dim = head_dim;
  c.key_quantizer = key_q;
  c.key_residual_quantizer = key_residual_q.value_or("");
  c.value_quantizer = value_q.value_or("");
  c.query_aware = query_aware;
  if (rope != "post" && rope != "pre") throw pyb::value_error("rope: expected 'post' or 'pre', got '" + rope + "'");
  c.rope = rope == "pre" ? kv::RopeMode::kPreRope : kv::RopeMode::kPostRope;
  c.rope_window = rope_window;
  c.rope_base = rope_base;
  if (rope_style != "half" && rope_style != "interleaved")
    throw pyb::value_error("rope_style: expected 'half' or 'interleaved', got '" + rope_style + "'");
  c.rope_style = rope_style == "half" ? kv::RopeStyle::kHalf : kv::RopeStyle::kInterleaved;
  c.page_tokens = page_tokens;
  c.train_iterations = iters;
  c.seed = seed;
  std::unique_ptr<kv::ColdStore> store;
  if (cold) {
    if (*cold == "memory")
      store = kv::make_memory_cold_store(kv_heads * head_dim);
    else if (cold->rfind("mmap:", 0) == 0)
      store = kv::make_mmap_cold_store(cold->substr(5), kv_heads * head_dim);
    else
      throw pyb::value_error("cold_store: expected 'memory', 'mmap:<path>' or None, got '" + *cold + "'");
  }
  return std::make_unique<kv::KVCache>(c, std::move(store));
}

}  // namespace

void bind_kv(pyb::module_& m) {
  using kv::KVCache;
  pyb::class_<KVCache>(m, "KVCache", R"doc(One layer's KV cache kept as codes (A²ATS-style retrieval).

KVCache(kv_heads=8, head_dim=128, key_quantizer="PQ32x8", value_quantizer=None, query_aware=True,
        cold_store="memory", rope="post", rope_window=256, rope_base=10000.0, rope_style="half",
        page_tokens=4096, iters=20, seed=1234, key_residual_quantizer=None)

cold_store: "memory", "mmap:<path>" or None (attend() then uses decoded keys and needs a
value_quantizer). rope="pre": keys are appended before RoPE, coded at their offset in their window and
scored exactly (q·R(t)k̂) with one table per rope_window positions. key_residual_quantizer (rope="pre"
only): a split code — key_quantizer codes the window-relative key coarsely (e.g. "RVQ2x8"), this one
the post-RoPE rest (e.g. "RVQ14x8"), so only the first quantizer's tables are built per window.
Readers (scores/topk/attend) may run in other threads during append().)doc")
      .def(pyb::init(&make_cache), pyb::arg("kv_heads") = 8, pyb::arg("head_dim") = 128,
           pyb::arg("key_quantizer") = "PQ32x8", pyb::arg("value_quantizer") = pyb::none(),
           pyb::arg("query_aware") = true, pyb::arg("cold_store") = "memory", pyb::arg("rope") = "post",
           pyb::arg("rope_window") = 256, pyb::arg("rope_base") = 10000.0, pyb::arg("rope_style") = "half",
           pyb::arg("page_tokens") = 4096, pyb::arg("iters") = 20, pyb::arg("seed") = 1234,
           pyb::arg("key_residual_quantizer") = pyb::none())
      .def("fit",
           [](KVCache& c, const pyb::handle& keys, const pyb::handle& queries, const pyb::handle& values) {
             const size_t H = c.config().kv_heads, d = c.config().head_dim;
             const FloatArray k = as_tokens(keys, "keys", H, d), q = as_tokens(queries, "queries", 0, d);
             FloatArray v;
             if (!values.is_none()) v = as_tokens(values, "values", H, d);
             pyb::gil_scoped_release release;
             c.fit(token_rows(k), token_rows(q), values.is_none() ? MatrixView<const float>() : token_rows(v));
           },
           pyb::arg("keys"), pyb::arg("queries"), pyb::arg("values") = pyb::none(),
           "keys (T, kv_heads, head_dim), queries (T, q_heads, head_dim): trains the codebooks")
      .def("append",
           [](KVCache& c, const pyb::handle& keys, const pyb::handle& values) {
             const size_t H = c.config().kv_heads, d = c.config().head_dim;
             const FloatArray k = as_tokens(keys, "keys", H, d), v = as_tokens(values, "values", H, d);
             pyb::gil_scoped_release release;
             c.append(token_rows(k), token_rows(v));
           },
           pyb::arg("keys"), pyb::arg("values"), "keys, values: (T, kv_heads, head_dim) each")
      .def("scores",
           [](const KVCache& c, const pyb::handle& query) {
             const FloatArray q = as_float_matrix(query, "query", c.config().head_dim);
             Matrix s;
             {
               pyb::gil_scoped_release release;
               s = c.scores(view_of(q));
             }
             return to_numpy(s);
           },
           pyb::arg("query"), "query (q_heads, head_dim) -> (q_heads, len(cache)) approximate scores")
      .def("topk",
           [](const KVCache& c, const pyb::handle& query, size_t k) {
             const FloatArray q = as_float_matrix(query, "query", c.config().head_dim);
             std::vector<idx_t> ids;
             {
               pyb::gil_scoped_release release;
               ids = c.topk(view_of(q), k);
             }
             return ids_array(ids, q.shape(0));
           },
           pyb::arg("query"), pyb::arg("k"), "(q_heads, min(k, len)) token indices, best first")
      .def("topk_reranked",
           [](const KVCache& c, const pyb::handle& query, size_t k, size_t candidates) {
             const FloatArray q = as_float_matrix(query, "query", c.config().head_dim);
             std::vector<idx_t> ids;
             {
               pyb::gil_scoped_release release;
               ids = c.topk_reranked(view_of(q), k, candidates);
             }
             return ids_array(ids, q.shape(0));
           },
           pyb::arg("query"), pyb::arg("k"), pyb::arg("candidates"),
           "(q_heads, min(k, len)) token indices: the top `candidates` from codes re-scored with the cold "
           "store's exact keys (optional re-ranking, not retrieval from codes alone)")
      .def("attend",
           [](const KVCache& c, const pyb::handle& query, size_t k, size_t sink, size_t window) {
             const FloatArray q = as_float_matrix(query, "query", c.config().head_dim);
             Matrix out;
             {
               pyb::gil_scoped_release release;
               out = c.attend(view_of(q), k, sink, window);
             }
             return to_numpy(out);
           },
           pyb::arg("query"), pyb::arg("k"), pyb::arg("sink") = 4, pyb::arg("window") = 64,
           "(q_heads, head_dim) exact attention over top-k ∪ sinks ∪ recent window")
      .def("decoded_keys", [](const KVCache& c, size_t h) { return to_numpy(c.decoded_keys(h)); },
           pyb::arg("kv_head"), "(len, head_dim) keys of one KV head as the codes decode them")
      .def("bytes_per_token", &KVCache::bytes_per_token,
           "hot bytes per token (key + value codes, all KV heads)")
      .def("bytes",
           [](const KVCache& c) {
             const kv::KVBytes b = c.bytes();
             pyb::dict d;
             d["key_codes"] = b.key_codes;
             d["value_codes"] = b.value_codes;
             d["cold"] = b.cold;
             return d;
           })
      .def_property_readonly("q_heads", &KVCache::q_heads)
      .def_property_readonly("kv_heads", [](const KVCache& c) { return c.config().kv_heads; })
      .def_property_readonly("head_dim", [](const KVCache& c) { return c.config().head_dim; })
      .def("__len__", &KVCache::size)
      .def("__repr__", [](const KVCache& c) {
        return "KVCache(kv_heads=" + std::to_string(c.config().kv_heads) + ", head_dim=" +
               std::to_string(c.config().head_dim) + ", key_quantizer='" + c.config().key_quantizer +
               "', len=" + std::to_string(c.size()) + ")";
      });
}

}  // namespace vq::py
