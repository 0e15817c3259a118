// Image files through stb_image as vq encode reads them (PNG, JPEG, BMP, TGA and the other
// formats stb detects from the bytes), then the colour / alpha split the encoder makes.
#include "fuzz_common.h"
#include "vq/image/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vq::fuzz::expect_clean([&] {
    const vq::image::Image img = vq::image::decode_image(vq::fuzz::bytes_of(data, size), "fuzz.image");
    img.validate("fuzz");
    (void)vq::image::to_rgb(img);
    if (img.has_alpha()) (void)vq::image::alpha_plane(img);
  });
  return 0;
}
