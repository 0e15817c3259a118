// Trains the tiny image model the image tests share (image_fixture.h) into the build tree, once
// per build of the library, instead of once per test process.
//   make_image_test_model OUT.vqc
#include <cstdio>
#include <exception>

#include "image_fixture.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_image_test_model OUT.vqc\n");
    return 2;
  }
  try {
    using namespace vq;
    image::ImageTokenizer::train(testing_image::tiny_model_images(), testing_image::tiny_model_options()).save(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_image_test_model: %s\n", e.what());
    return 1;
  }
  return 0;
}
