// The audio codec: mono audio <-> a (frames × codebooks) array of tokens, with learned
// residual codebooks and one model for every bitrate.
//
// Signal path (24 kHz model rate, frames of N = 480 MDCT coefficients, 50 frames per second):
//   1. MDCT with a sine window, hop N (mdct.h).
//   2. Envelope: e_b = ½·log2(mean of X_k² over band b + 1e-10) for B = 32 mel-spaced bands (at
//      least 4 coefficients wide). A 6-bit frame gain ĝ (the H-weighted mean of e_b, uniform
//      steps of 0.375 in log2 from −18.5: silence and any loudness stay representable) is sent
//      first; e − ĝ minus its prediction from the previous frame's decoded e − ĝ (per band,
//      mean + α_b·(previous − mean); see envelope_state) is quantized by a residual quantizer
//      (RVQ<Le>x10) under
//      the diagonal Metric H_b = (mel bands band b spans): an error of δ in e_b moves the log-mel
//      spectrum by δ in that many of the 80 mel bands, so H makes the codebooks spend where the
//      log-mel distance looks.
//   3. Shapes: X_k / 2^ê_b (unit RMS per band given the decoded envelope), cut into sub-vectors
//      of 8 coefficients; each sub-vector is quantized by the residual quantizer of its frequency
//      region (RVQ<L>x8, one per region: low / mid / high), using a_j levels.
//   4. Decoder: Σ of the chosen entries per coded sub-vector; sub-vectors without levels get
//      deterministic pseudo-random noise (seeded by frame and coefficient), so bands without
//      bits keep their loudness; each band is rescaled to the unit RMS the envelope promises
//      (coded shapes keep their relative energies inside the band), scaled by 2^ê_b, inverse
//      MDCT, overlap-add.
//
// Bitrate ladder (EnCodec-style, one model): the model orders all shape levels once, greedily:
// the next step is the level of the sub-vector that removes the most training error per bit,
// weighted by its mel density (mel bands per Hz ∝ 1/(700 + f)) cubed. A bitrate of R bits/frame uses
// the gain, Le envelope levels (2 below 60 bits, 3 below 120, 5 below 240, 8 below 480,
// 12 below 720, else all of the model's) and the first S shape steps that fit. Tokens of a frame: [gain][Le envelope codes][S shape codes in step order]. A lower
// bitrate's gain column is the higher one's; its envelope and shape codes are not a prefix of
// the higher one's, because the envelope is predicted from the envelope decoded at that bitrate
// and the shapes are normalised by it.
//
// The envelope is coded in frame order (its prediction state runs from the stream start); the
// shapes are frame-independent given the decoded envelope. Every frame's arithmetic is the same
// whatever the batch, so the streaming encoder gives exactly the whole-file tokens.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vq/audio/mdct.h"
#include "vq/core/codebook_quantizer.h"
#include "vq/core/container.h"
#include "vq/core/model_ref.h"
#include "vq/core/progress.h"
#include "vq/types.h"

namespace vq::audio {

// The ladder the CLI and the benchmarks use (bits per second, nominal).
inline constexpr int kLadder[] = {1500, 3000, 6000, 12000, 24000};
// The bundled default model, by its name relative to the models folder (models.h).
inline constexpr const char* kDefaultModelName = "audio_default.vqc";

struct AudioTrainOptions {
  size_t envelope_levels = 16;         // RVQ levels of the envelope (10-bit books)
  std::vector<size_t> region_levels = {6, 4, 3};  // RVQ levels (8-bit books) of low / mid / high
  int iterations = 12;                 // Lloyd iterations per level
  size_t max_frames = 200000;          // frames used at most (evenly subsampled)
  uint64_t seed = 1234;
  int threads = 0;
  ProgressCallback progress;
};

// Allocation of one bitrate: what each frame's tokens are.
struct BitrateLayout {
  int bitrate = 0;                 // nominal bits per second asked for
  size_t envelope_levels = 0;      // Le
  size_t shape_steps = 0;          // S
  std::vector<uint8_t> levels;     // a_j per sub-vector (size sub-vector count)
  std::vector<uint8_t> bits;       // token widths of a frame, in token order (1 + Le + S)
  size_t bits_per_frame() const;
  double payload_bitrate(double frame_rate) const { return double(bits_per_frame()) * frame_rate; }
};

class AudioModel {
 public:
  static constexpr int kSampleRate = 24000;
  static constexpr size_t kHop = 480;         // MDCT coefficients per frame
  static constexpr size_t kSubvector = 8;     // coefficients per shape sub-vector
  static constexpr int kGainBits = 6;
  static constexpr int kEnvelopeBits = 10;
  static constexpr int kShapeBits = 8;
  static double frame_rate() { return double(kSampleRate) / double(kHop); }

  // clips: mono signals at kSampleRate. Needs at least 2^10 non-silent frames (~21 s).
  static AudioModel train(const std::vector<std::vector<float>>& clips, const AudioTrainOptions& options);

  // Model file: "vq.kind" = "audio_model", keys "audio.sample_rate", "audio.hop",
  // "audio.subvector", "audio.band_edges", "audio.regions", "audio.describe"; chunks "AENV" (the
  // envelope quantizer) and one "ASHP" per shape region (embedded_model.h, stored as is), "ARES"
  // (residual energy curves), "AEPR" (envelope prediction) and "ATST" (the model's self-test).
  void save(const std::string& path) const;   // atomic
  std::vector<uint8_t> to_bytes() const;
  static AudioModel load(const std::string& path);
  static AudioModel from_bytes(Span<const uint8_t> bytes, const std::string& name = "<memory>");
  // Reads the model held in `in`: every embedded quantizer's self-test, then the model's own.
  static AudioModel read(const ContainerReader& in);
  // What encoded files record to find their model again (model_ref.h): where the model was read
  // from, the hash of its file (of to_bytes() for a model trained in memory) and, for a model
  // read from a file, the file's CRC-32, by which files written before model hashes name it.
  const ModelRef& ref() const { return ref_; }

  size_t bands() const { return band_edges_.size() - 1; }
  const std::vector<size_t>& band_edges() const { return band_edges_; }  // B + 1, in coefficients
  size_t subvectors() const { return kHop / kSubvector; }
  // bitrate: >= 1000 bits/s.
  BitrateLayout layout(int bitrate) const;
  // Highest bitrate that still adds levels (all levels in use).
  int max_bitrate() const;

  // The envelope is coded as the innovation over a prediction from the previous frame's DECODED
  // envelope (so encoder and decoder stay in step at every bitrate): per band b, with the frame's
  // levels relative to its gain, prediction = mean_b + alpha_b·(previous_b − mean_b). The state
  // (bands() floats, the previous frame's decoded relative levels) starts as envelope_state() at
  // every stream start. A model without prediction (chunk AEPR absent) has mean = alpha = 0.
  std::vector<float> envelope_state() const { return envelope_mean_; }

  // One frame: coeffs (kHop) -> tokens (layout.bits.size()); state as above, updated.
  void encode_frame(const float* coeffs, const BitrateLayout& layout, float* state, uint16_t* tokens) const;
  // The two halves of encode_frame: the envelope (sequential: it reads and updates state) writes
  // the gain and envelope tokens and the decoded log2 band levels env (bands()); the shapes
  // (independent per frame given env) write the rest.
  void encode_envelope(const float* coeffs, const BitrateLayout& layout, float* state, uint16_t* tokens,
                       float* env) const;
  void encode_shapes(const float* coeffs, const BitrateLayout& layout, const float* env, uint16_t* tokens) const;
  // Decoded log2 band levels env (bands()) of a frame's tokens; reads and updates state.
  void decode_envelope(const uint16_t* tokens, const BitrateLayout& layout, float* state, float* env) const;
  // tokens + their decoded envelope -> coeffs (kHop); frame_index seeds the noise filling.
  void decode_frame(const uint16_t* tokens, const BitrateLayout& layout, const float* env, uint64_t frame_index,
                    float* coeffs) const;

  std::string describe() const;  // "audio 24 kHz, 28 bands, envelope RVQ4x10, shapes RVQ6x8/RVQ4x8/RVQ3x8"

 private:
  AudioModel() = default;
  void prepare();  // derived tables after train/load
  static uint16_t gain_index(float log2_gain);
  static float gain_value(uint16_t index);
  // Model self-test (chunk "ATST"): u32 n (<= 4), u32 m (tokens per frame at max_bitrate()),
  // n × kHop f32 MDCT frames, n × m u16 tokens. read() re-encodes the frames with encode_frame
  // and requires the stored tokens: where the embedded quantizers' self-tests check the core's
  // encoder on each book, this checks the codec's own search (whitened books, beams, envelope
  // prediction) end to end, for the cost of encoding 4 frames.
  std::vector<uint8_t> self_test_payload() const;
  float predicted(const float* state, size_t b) const {
    return envelope_mean_[b] + envelope_alpha_[b] * (state[b] - envelope_mean_[b]);
  }
  void check_self_test(ByteReader r, const std::string& name) const;

  std::vector<size_t> band_edges_;
  std::vector<size_t> region_first_;          // first sub-vector of each region, plus subvectors()
  std::vector<float> envelope_weights_;       // H diagonal (B)
  std::shared_ptr<const CodebookQuantizer> envelope_;
  std::vector<float> envelope_mean_, envelope_alpha_;  // prediction (B each, chunk AEPR)
  std::vector<std::shared_ptr<const CodebookQuantizer>> shapes_;  // one per region
  std::vector<std::vector<float>> residual_energy_;  // per region: mean error per coefficient after a levels (a = 0..L)
  // Derived: the books as the encoder's beam search reads them (envelope whitened by sqrt(H), so
  // its error is plain L2; shapes per region), defined in audio_codec.cpp.
  struct SearchBooks;
  std::shared_ptr<const SearchBooks> search_;
  std::vector<uint16_t> band_of_coeff_;        // kHop
  std::vector<uint16_t> steps_;               // shape steps: the sub-vector of each, in order
  std::vector<uint16_t> step_level_;          // its level (0-based)
  ModelRef ref_;
};

// An encoded file's content.
struct EncodedAudio {
  int bitrate = 0;               // nominal, selects the layout
  int source_rate = 0;           // rate of the input (decode resamples back to it)
  int source_channels = 0;       // channels of the input (decoded audio is mono)
  size_t source_samples = 0;     // length of the input at source_rate
  size_t samples = 0;            // length at the model rate
  ModelRef model;                // the model that made the tokens: encode() sets model.ref()
  Codes tokens;                  // frames × tokens per frame
};

// Whole-file paths. mono: samples at source_rate (resampled to the model rate here).
EncodedAudio encode(const AudioModel& model, Span<const float> mono, int source_rate, int bitrate);
// Samples at the model rate (samples long). Throws vq::Error naming both models unless
// encoded.model matches model.ref().
std::vector<float> decode_model_rate(const AudioModel& model, const EncodedAudio& encoded);
// Samples at encoded.source_rate (source_samples long).
std::vector<float> decode(const AudioModel& model, const EncodedAudio& encoded);

// .vqc files of kind "audio": metadata "audio.bitrate", "audio.source" (rate,channels,samples),
// "audio.samples", the model reference ("model.name", "model.hash": model_ref.h), and one CODE
// chunk. No codebooks: models.h open_model() finds the model, decode checks it. Files written
// before model references name it in "audio.model" = "name,decimal CRC-32 of the model file",
// read as a reference with that older identity (model_ref.h).
void write_encoded(ContainerWriter& out, const EncodedAudio& encoded);
EncodedAudio read_encoded(const ContainerReader& in);

// Streaming at the model rate: push samples, pull tokens. Frame t is ready once samples up to
// (t+1)·N have arrived (latency one frame, 20 ms, plus the hop being filled); finish() pads the
// end with zeros like the whole-file path. Tokens equal encode()'s for the same model-rate input.
class StreamEncoder {
 public:
  StreamEncoder(const AudioModel& model, int bitrate);
  const BitrateLayout& layout() const { return layout_; }
  void push(Span<const float> samples);
  // Marks the end of input; the remaining frames become available.
  void finish();
  // Moves the frames encoded so far out (frames × tokens per frame).
  Codes pull();

 private:
  void encode_ready();
  const AudioModel& model_;
  BitrateLayout layout_;
  std::vector<float> window_;      // 2N samples of the next frame to encode, starting at (t−1)·N
  size_t filled_ = 0;              // samples of window_ present
  size_t total_ = 0;               // samples pushed
  size_t frames_done_ = 0;
  bool finished_ = false;
  std::vector<float> state_;       // envelope prediction state
  std::vector<uint16_t> ready_;
  std::unique_ptr<Mdct> mdct_;
};

// Push tokens (whole frames), pull samples at the model rate. Each frame after the first
// completes N samples (output sample i is sample i of decode_model_rate, which trims the tail).
class StreamDecoder {
 public:
  StreamDecoder(const AudioModel& model, int bitrate);
  ~StreamDecoder();
  void push(const Codes& frames);
  std::vector<float> pull();

 private:
  const AudioModel& model_;
  BitrateLayout layout_;
  std::vector<float> overlap_;  // second half of the previous frame's output
  uint64_t frames_ = 0;
  std::vector<float> state_;    // envelope prediction state
  std::vector<float> ready_;
  std::unique_ptr<Mdct> mdct_;
};

}  // namespace vq::audio
