#include "workload/content.h"

#include <algorithm>
#include <cmath>

namespace fgattn::workload {
namespace {

// Symmetric exponential smoothing (forward then backward AR(1)) of `n` values spaced `stride` apart.
void smooth_line(float* x, std::int64_t n, std::int64_t stride, double rho) {
  const double g = std::sqrt(1.0 - rho * rho);
  double acc = x[0];
  for (std::int64_t i = 1; i < n; ++i) x[i * stride] = static_cast<float>(acc = rho * acc + g * x[i * stride]);
  acc = x[(n - 1) * stride];
  for (std::int64_t i = n - 2; i >= 0; --i) x[i * stride] = static_cast<float>(acc = rho * acc + g * x[i * stride]);
}

// White noise on a [rows][cols][C] plane, smoothed along both spatial axes.
std::vector<float> smooth_plane(std::int64_t rows, std::int64_t cols, std::int64_t C, double rho, Rng& rng) {
  std::vector<float> f(static_cast<std::size_t>(rows * cols * C));
  for (auto& v : f) v = static_cast<float>(rng.normal());
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < C; ++c) smooth_line(f.data() + r * cols * C + c, cols, C, rho);
  for (std::int64_t x = 0; x < cols; ++x)
    for (std::int64_t c = 0; c < C; ++c) smooth_line(f.data() + x * C + c, rows, cols * C, rho);
  return f;
}

struct Object {
  double y, x, vy, vx, radius;
  std::vector<double> feature;
};

}  // namespace

std::vector<float> make_content(const ContentParams& p, Rng& rng) {
  const std::int64_t T = p.frames, H = p.height, W = p.width, C = p.channels;
  const double rho = std::clamp(p.correlation, 0.0, 0.999);
  // Camera pan: the static scene is a larger canvas that each frame views at a moving offset.
  const double pan_y = rng.uniform(-0.5, 0.5), pan_x = rng.uniform(-1.0, 1.0);  // latent pixels per frame
  const auto frames = static_cast<double>(T);
  const std::int64_t margin_y = static_cast<std::int64_t>(std::ceil(std::abs(pan_y) * frames)) + 1;
  const std::int64_t margin_x = static_cast<std::int64_t>(std::ceil(std::abs(pan_x) * frames)) + 1;
  const std::int64_t CH = H + margin_y, CW = W + margin_x;
  const std::vector<float> scene = smooth_plane(CH, CW, C, rho, rng);
  // Dynamic layer: spatially smooth innovations, AR(1) in time with the same coefficient.
  const double dyn_weight = 0.35;
  std::vector<float> dyn = smooth_plane(H, W, C, rho, rng);

  // Objects: soft discs with their own feature vector, moving at constant velocity.
  const std::int64_t n_obj = std::clamp<std::int64_t>(T * H * W / 1500, 2, 12);
  std::vector<Object> objects;
  for (std::int64_t o = 0; o < n_obj; ++o) {
    Object ob;
    ob.y = rng.uniform(0, static_cast<double>(H));
    ob.x = rng.uniform(0, static_cast<double>(W));
    ob.vy = rng.uniform(-0.6, 0.6);
    ob.vx = rng.uniform(-1.2, 1.2);
    ob.radius = rng.uniform(1.5, std::max(2.0, static_cast<double>(std::min(H, W)) / 5.0));
    for (std::int64_t c = 0; c < C; ++c) ob.feature.push_back(1.5 * rng.normal());
    objects.push_back(std::move(ob));
  }

  std::vector<float> out(static_cast<std::size_t>(T * H * W * C));
  for (std::int64_t t = 0; t < T; ++t) {
    if (t > 0) {  // advance the dynamic layer
      const std::vector<float> innovation = smooth_plane(H, W, C, rho, rng);
      const double a = rho, g = std::sqrt(1.0 - rho * rho);
      for (std::size_t i = 0; i < dyn.size(); ++i) dyn[i] = static_cast<float>(a * dyn[i] + g * innovation[i]);
    }
    const double oy = (pan_y >= 0 ? 0.0 : static_cast<double>(margin_y - 1)) + pan_y * static_cast<double>(t);
    const double ox = (pan_x >= 0 ? 0.0 : static_cast<double>(margin_x - 1)) + pan_x * static_cast<double>(t);
    for (std::int64_t y = 0; y < H; ++y)
      for (std::int64_t x = 0; x < W; ++x) {
        float* c_out = out.data() + ((t * H + y) * W + x) * C;
        const auto sy = std::clamp<std::int64_t>(std::llround(oy + static_cast<double>(y)), 0, CH - 1);
        const auto sx = std::clamp<std::int64_t>(std::llround(ox + static_cast<double>(x)), 0, CW - 1);
        const float* s = scene.data() + (sy * CW + sx) * C;
        const float* d = dyn.data() + (y * W + x) * C;
        for (std::int64_t c = 0; c < C; ++c)
          c_out[c] = static_cast<float>(std::sqrt(1.0 - dyn_weight) * s[c] + std::sqrt(dyn_weight) * d[c]);
        for (const Object& ob : objects) {
          const double dy = static_cast<double>(y) - (ob.y + ob.vy * static_cast<double>(t));
          const double dx = static_cast<double>(x) - (ob.x + ob.vx * static_cast<double>(t));
          const double r = std::sqrt(dy * dy + dx * dx) / ob.radius;
          const double w = 1.0 / (1.0 + std::exp(4.0 * (r - 1.0)));  // soft edge
          if (w < 1e-3) continue;
          for (std::int64_t c = 0; c < C; ++c)
            c_out[c] = static_cast<float>((1.0 - w) * c_out[c] + w * (ob.feature[static_cast<std::size_t>(c)] + 0.3 * c_out[c]));
        }
      }
  }
  // Unit variance per channel over the whole video.
  for (std::int64_t c = 0; c < C; ++c) {
    double sum = 0, sq = 0;
    const std::int64_t n = T * H * W;
    for (std::int64_t i = 0; i < n; ++i) {
      sum += out[static_cast<std::size_t>(i * C + c)];
      sq += static_cast<double>(out[static_cast<std::size_t>(i * C + c)]) * out[static_cast<std::size_t>(i * C + c)];
    }
    const double mean = sum / static_cast<double>(n);
    const double sd = std::sqrt(std::max(sq / static_cast<double>(n) - mean * mean, 1e-12));
    for (std::int64_t i = 0; i < n; ++i) {
      float& v = out[static_cast<std::size_t>(i * C + c)];
      v = static_cast<float>((v - mean) / sd);
    }
  }
  return out;
}

}  // namespace fgattn::workload
