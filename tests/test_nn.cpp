// nn: Module behaviour (seen through SimpleRNN and a small module of our
// own), options structs, initializers and activations by name.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "test_helpers.hpp"
#include "xgrad/autograd/ops.hpp"
#include "xgrad/autograd/variable.hpp"
#include "xgrad/nn/activation.hpp"
#include "xgrad/nn/initializers.hpp"
#include "xgrad/nn/module.hpp"
#include "xgrad/nn/simple_rnn.hpp"
#include "xgrad/tensor/tensor.hpp"

namespace {

namespace nn = xgrad::nn;
using nn::Activation;
using xgrad::Array;
using xgrad::Shape;
using xgrad::Variable;
using xgrad::test::column_gram_error;
using xgrad::test::shape_is;
using xgrad::test::names_of;
using xgrad::test::throws_with;

// A module of our own: a parameter, and a SimpleRNN child registered before
// it is built.
class Encoder : public nn::Module<double> {
 public:
  Encoder() : nn::Module<double>("encoder") {
    scale_ = register_parameter("scale", Variable<double>(xgrad::ones<double>({4})));
    rnn_ = std::make_shared<nn::SimpleRNN<double>>(nn::SimpleRNNOptions(4).name("rnn"));
    register_module("rnn", rnn_);
  }
  Variable<double> forward(const Variable<double>& x) { return xgrad::mul((*rnn_)(x), scale_); }
  nn::SimpleRNN<double>& rnn() { return *rnn_; }
  Variable<double> scale() const { return scale_; }

  // Exposed for the registration checks.
  void register_again(const std::string& name) {
    register_parameter(name, Variable<double>(xgrad::zeros<double>({1})));
  }
  void register_null_child() { register_module("nothing", nullptr); }
  void register_child_again() {
    register_module("rnn", std::make_shared<nn::SimpleRNN<double>>(nn::SimpleRNNOptions(2)));
  }

 private:
  Variable<double> scale_;
  std::shared_ptr<nn::SimpleRNN<double>> rnn_;
};

// ---------------------------------------------------------------------------
// Module through SimpleRNN

TEST(Module, NamedParametersNamesAndOrder) {
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(3));
  EXPECT_TRUE(rnn.named_parameters().empty());  // nothing before build
  rnn.build({-1, -1, 2});
  const auto named = rnn.named_parameters();
  EXPECT_EQ(names_of(named), (std::vector<std::string>{"kernel", "recurrent_kernel", "bias"}));
  ASSERT_EQ(named.size(), 3u);
  EXPECT_TRUE(shape_is(named[0].second.value(), {2, 3}));
  EXPECT_TRUE(shape_is(named[1].second.value(), {3, 3}));
  EXPECT_TRUE(shape_is(named[2].second.value(), {3}));
  for (const auto& [name, p] : named) EXPECT_TRUE(p.requires_grad()) << name;

  nn::SimpleRNN<double> no_bias(nn::SimpleRNNOptions(3).use_bias(false));
  no_bias.build({-1, -1, 2});
  EXPECT_EQ(names_of(no_bias.named_parameters()),
            (std::vector<std::string>{"kernel", "recurrent_kernel"}));
  EXPECT_EQ(no_bias.parameters().size(), 2u);
}

TEST(Module, ParametersAreHandlesSharedWithTheLayer) {
  xgrad::manual_seed(8);
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(3).return_sequences(true));
  rnn.build({-1, -1, 2});
  auto params = rnn.parameters();
  ASSERT_EQ(params.size(), 3u);
  EXPECT_TRUE(params[0].same_node(rnn.kernel()));
  EXPECT_TRUE(params[1].same_node(rnn.recurrent_kernel()));
  EXPECT_TRUE(params[2].same_node(rnn.bias()));
  EXPECT_FALSE(params[0].same_node(params[1]));

  const Variable<double> x(xgrad::uniform<double>({2, 4, 2}, -1.0, 1.0));
  const Array<double> before = rnn(x).value();

  // An update through the handles (as an optimizer does) is seen by the layer.
  params[2].value() += 0.25;
  params[0].value() *= -1.0;
  EXPECT_EQ(rnn.bias().value(), xgrad::full<double>({3}, 0.25));
  const Array<double> after = rnn(x).value();
  EXPECT_NE(after, before);
  // ... and equals a fresh layer given the updated weights.
  nn::SimpleRNN<double> fresh(nn::SimpleRNNOptions(3).return_sequences(true));
  fresh.set_weights({params[0].value(), params[1].value(), params[2].value()});
  EXPECT_EQ(fresh(x).value(), after);

  // A gradient computed through the layer is read through the handles.
  xgrad::sum(rnn(x)).backward();
  for (const auto& p : params) EXPECT_TRUE(p.has_grad());
  // And set_weights writes into the same nodes the handles name.
  rnn.set_weights({xgrad::zeros<double>({2, 3}), xgrad::zeros<double>({3, 3}),
                   xgrad::zeros<double>({3})});
  EXPECT_EQ(params[0].value(), xgrad::zeros<double>({2, 3}));
  EXPECT_TRUE(params[0].same_node(rnn.kernel()));
}

TEST(Module, ZeroGradClearsEveryParameter) {
  xgrad::manual_seed(9);
  nn::SimpleRNN<double> rnn(nn::SimpleRNNOptions(2));
  const Variable<double> x(xgrad::uniform<double>({1, 3, 2}, -1.0, 1.0));
  xgrad::sum(rnn(x)).backward();
  for (const auto& p : rnn.parameters()) ASSERT_TRUE(p.has_grad());
  rnn.zero_grad();
  for (const auto& [name, p] : rnn.named_parameters()) EXPECT_FALSE(p.has_grad()) << name;
}

// A copy would silently share the parameters (Variables are handles), so
// modules are not copyable; share one through std::shared_ptr instead.
static_assert(!std::is_copy_constructible_v<nn::SimpleRNN<float>>);
static_assert(!std::is_copy_assignable_v<nn::SimpleRNN<double>>);
static_assert(!std::is_copy_constructible_v<nn::Module<double>>);

TEST(Module, TrainAndEvalFlags) {
  nn::SimpleRNN<float> rnn(nn::SimpleRNNOptions(2));
  EXPECT_TRUE(rnn.is_training());  // the default
  rnn.eval();
  EXPECT_FALSE(rnn.is_training());
  rnn.train();
  EXPECT_TRUE(rnn.is_training());
  rnn.train(false);
  EXPECT_FALSE(rnn.is_training());
  rnn.train(true);
  EXPECT_TRUE(rnn.is_training());
}

TEST(Module, ChildModulesNamesTrainingAndZeroGrad) {
  Encoder encoder;
  EXPECT_EQ(encoder.name(), "encoder");
  EXPECT_EQ(encoder.rnn().name(), "rnn");
  // The child is not built yet: only the encoder's own parameter.
  EXPECT_EQ(names_of(encoder.named_parameters()), (std::vector<std::string>{"scale"}));
  xgrad::manual_seed(10);
  const Variable<double> x(xgrad::uniform<double>({2, 3, 5}, -1.0, 1.0));
  const Variable<double> y = encoder.forward(x);  // builds the child
  EXPECT_EQ(names_of(encoder.named_parameters()),
            (std::vector<std::string>{"scale", "rnn/kernel", "rnn/recurrent_kernel", "rnn/bias"}));
  const auto params = encoder.parameters();
  ASSERT_EQ(params.size(), 4u);
  EXPECT_TRUE(params[0].same_node(encoder.scale()));
  EXPECT_TRUE(params[1].same_node(encoder.rnn().kernel()));
  EXPECT_TRUE(params[3].same_node(encoder.rnn().bias()));

  encoder.eval();
  EXPECT_FALSE(encoder.is_training());
  EXPECT_FALSE(encoder.rnn().is_training());
  encoder.train();
  EXPECT_TRUE(encoder.rnn().is_training());

  xgrad::sum(y).backward();
  for (const auto& p : params) EXPECT_TRUE(p.has_grad());
  encoder.zero_grad();
  for (const auto& [name, p] : encoder.named_parameters()) EXPECT_FALSE(p.has_grad()) << name;
}

TEST(Module, RegistrationErrors) {
  Encoder encoder;
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { encoder.register_again("scale"); },
                                                 {"encoder", "'scale'", "already registered"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { encoder.register_null_child(); },
                                                 {"encoder", "'nothing'", "null"}));
  EXPECT_TRUE(throws_with<std::invalid_argument>([&] { encoder.register_child_again(); },
                                                 {"encoder", "'rnn'", "already registered"}));
  EXPECT_EQ(encoder.named_parameters().size(), 1u);
  // A registered parameter requires a gradient even if created without.
  EXPECT_TRUE(encoder.scale().requires_grad());
}

// ---------------------------------------------------------------------------
// Options

TEST(Options, ChainedSettersAndGetters) {
  const auto options = nn::SimpleRNNOptions(2).return_sequences(true).activation("relu");
  EXPECT_EQ(options.units(), 2u);
  EXPECT_TRUE(options.return_sequences());
  EXPECT_EQ(options.activation(), Activation::relu);
  EXPECT_TRUE(options.use_bias());          // untouched default
  EXPECT_EQ(options.name(), "simple_rnn");  // untouched default

  auto more = nn::SimpleRNNOptions(5)
                  .use_bias(false)
                  .activation(Activation::sigmoid)
                  .name("decoder")
                  .units(7)
                  .return_sequences(false);
  EXPECT_EQ(more.units(), 7u);
  EXPECT_FALSE(more.use_bias());
  EXPECT_EQ(more.activation(), Activation::sigmoid);
  EXPECT_EQ(more.name(), "decoder");
  EXPECT_FALSE(more.return_sequences());
  // The setters return the same object.
  EXPECT_EQ(&more.use_bias(true), &more);
  EXPECT_TRUE(more.use_bias());

  // The layer keeps its options and takes its name from them.
  nn::SimpleRNN<float> rnn(nn::SimpleRNNOptions(2).return_sequences(true).activation("relu").name("enc"));
  EXPECT_EQ(rnn.options().units(), 2u);
  EXPECT_TRUE(rnn.options().return_sequences());
  EXPECT_EQ(rnn.options().activation(), Activation::relu);
  EXPECT_EQ(rnn.name(), "enc");
  EXPECT_TRUE(throws_with<std::invalid_argument>(
      [&] { rnn(Variable<float>(xgrad::zeros<float>({2, 2}))); }, {"SimpleRNN 'enc'", "(2, 2)"}));
  // The relu option is really used: negative pre-activations give 0.
  rnn.set_weights({xgrad::full<float>({1, 2}, -1.f), xgrad::zeros<float>({2, 2}),
                   xgrad::zeros<float>({2})});
  const Array<float> y = rnn(Variable<float>(xgrad::ones<float>({1, 2, 1}))).value();
  EXPECT_EQ(y, xgrad::zeros<float>({1, 2, 2}));
}

// ---------------------------------------------------------------------------
// Initializers

TEST(Initializers, GlorotUniformNonSquareShapes) {
  xgrad::manual_seed(11);
  // 2-D shapes [fan_in, fan_out].
  for (const Shape& shape : {Shape{3, 7}, Shape{7, 3}, Shape{1, 12}, Shape{40, 60}}) {
    const double limit = std::sqrt(6.0 / static_cast<double>(shape[0] + shape[1]));
    const Array<double> w = nn::init::glorot_uniform<double>(shape);
    ASSERT_TRUE(shape_is(w, shape));
    const double largest = xt::amax(xt::abs(w))();
    EXPECT_LE(largest, limit) << xgrad::shape_to_string(shape);
    EXPECT_GT(largest, 0.5 * limit) << xgrad::shape_to_string(shape);
    const Array<float> w32 = nn::init::glorot_uniform<float>(shape);
    ASSERT_TRUE(shape_is(w32, shape));
    EXPECT_LE(xt::amax(xt::abs(w32))(), static_cast<float>(limit));
  }
  // Wide and tall shapes with the same fans share the limit but not the layout.
  xgrad::manual_seed(15);
  const Array<double> wide = nn::init::glorot_uniform<double>({2, 50});
  EXPECT_TRUE(shape_is(wide, {2, 50}));
  EXPECT_LE(xt::amax(xt::abs(wide))(), std::sqrt(6.0 / 52.0));
  EXPECT_GT(xt::amax(xt::abs(wide))(), 0.9 * std::sqrt(6.0 / 52.0));
}

TEST(Initializers, OrthogonalTallHasOrthonormalColumnsWideHasOrthonormalRows) {
  xgrad::manual_seed(12);
  const Array<double> tall = nn::init::orthogonal<double>({5, 3});
  ASSERT_TRUE(shape_is(tall, {5, 3}));
  EXPECT_LE(column_gram_error(tall), 1e-12);

  const Array<double> wide = nn::init::orthogonal<double>({3, 5});
  ASSERT_TRUE(shape_is(wide, {3, 5}));
  EXPECT_LE(column_gram_error(xgrad::transposed(wide)), 1e-12);  // W W^T = I

  const Array<float> square = nn::init::orthogonal<float>({6, 6});
  EXPECT_LE(column_gram_error(square), 1e-5);
  EXPECT_LE(column_gram_error(xgrad::transposed(square)), 1e-5);

  const Array<float> tall32 = nn::init::orthogonal<float>({9, 2});
  EXPECT_LE(column_gram_error(tall32), 1e-5);

  // gain scales: Q^T Q = gain^2 I.
  const Array<double> scaled = nn::init::orthogonal<double>({4, 4}, 2.0);
  EXPECT_LE(column_gram_error(scaled, 2.0), 1e-12);
  EXPECT_GT(column_gram_error(scaled, 1.0), 1.0);

  // Reproducible with manual_seed, and different draws differ.
  xgrad::manual_seed(13);
  const Array<double> a = nn::init::orthogonal<double>({4, 4});
  const Array<double> b = nn::init::orthogonal<double>({4, 4});
  xgrad::manual_seed(13);
  const Array<double> c = nn::init::orthogonal<double>({4, 4});
  EXPECT_EQ(a, c);
  EXPECT_NE(a, b);

  EXPECT_THROW(nn::init::orthogonal<double>({4}), std::invalid_argument);
}

TEST(Initializers, OrthogonalIsSignedByTheDiagonalOfR) {
  // Keras multiplies Q by sign(diag(R)), which makes Q uniformly distributed.
  // For a [1, 1] shape Q is then sign(a) of the normal draw a: +1 and -1
  // about equally often (QR alone always gives +1 here).
  xgrad::manual_seed(14);
  int positive = 0;
  constexpr int draws = 400;
  for (int i = 0; i < draws; ++i) {
    const Array<double> q = nn::init::orthogonal<double>({1, 1});
    ASSERT_NEAR(std::abs(q(0, 0)), 1.0, 1e-15);
    positive += q(0, 0) > 0;
  }
  EXPECT_GT(positive, 140);  // binomial(400, 1/2): mean 200, sd 10
  EXPECT_LT(positive, 260);
}

// ---------------------------------------------------------------------------
// Activations

TEST(Activations, NamesRoundTrip) {
  for (Activation a : {Activation::linear, Activation::tanh, Activation::relu, Activation::sigmoid}) {
    EXPECT_EQ(nn::activation_from_name(nn::activation_name(a)), a);
  }
  EXPECT_STREQ(nn::activation_name(Activation::linear), "linear");
  EXPECT_STREQ(nn::activation_name(Activation::tanh), "tanh");
  EXPECT_STREQ(nn::activation_name(Activation::relu), "relu");
  EXPECT_STREQ(nn::activation_name(Activation::sigmoid), "sigmoid");
  EXPECT_TRUE(throws_with<std::invalid_argument>([] { nn::activation_from_name("sparsemax"); },
                                                 {"'sparsemax'", "linear", "tanh", "relu", "sigmoid"}));
  EXPECT_THROW(nn::activation_from_name(""), std::invalid_argument);
}

TEST(Activations, ApplyActivationValues) {
  const Array<double> v = {-2.0, -0.5, 0.0, 0.5, 2.0};
  const Variable<double> x(v);
  for (Activation a : {Activation::linear, Activation::tanh, Activation::relu, Activation::sigmoid}) {
    SCOPED_TRACE(nn::activation_name(a));
    const Array<double> y = nn::apply_activation(a, x).value();
    ASSERT_TRUE(shape_is(y, {5}));
    for (std::size_t i = 0; i < v.size(); ++i) {
      double expected = v(i);
      if (a == Activation::tanh) expected = std::tanh(v(i));
      if (a == Activation::relu) expected = v(i) > 0 ? v(i) : 0.0;
      if (a == Activation::sigmoid) expected = 1.0 / (1.0 + std::exp(-v(i)));
      EXPECT_NEAR(y(i), expected, 1e-15) << i;
    }
  }
  // sigmoid stays finite far from 0 in float32.
  const Array<float> far = nn::apply_activation(Activation::sigmoid, Variable<float>(Array<float>{-100.f, 100.f})).value();
  EXPECT_TRUE(std::isfinite(far(0)) && std::isfinite(far(1)));
  EXPECT_GE(far(0), 0.f);
  EXPECT_LT(far(0), 1e-30f);
  EXPECT_EQ(far(1), 1.f);
}

}  // namespace
