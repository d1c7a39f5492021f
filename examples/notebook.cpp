// The notebook twin: the seed notebook's cells, in order, in C++ with xgrad.
//
// The notebook (TensorFlow) builds a SimpleRNN with 2 units on 5 features,
// prints its weights, runs it on a 3-step sequence, then recomputes every
// step by hand with matmul + add + tanh. Each section below is headed by the
// notebook cell it mirrors and prints what that cell printed.
//
// TensorFlow draws the initial weights with its own generator, so this
// program loads the weights the notebook printed in In [5]; with them the
// layer reproduces the notebook's In [9] output. (The notebook's In [22] ran
// on other random weights; the tests check its step t = 0 separately.)
//
// One cell beyond the notebook: the gradients of sum(output) with respect to
// the three weights, and gradcheck's verdict on them in float64.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

#include <xgrad/xgrad.hpp>

namespace {

using xgrad::Array;
using xgrad::Variable;

// In [5] of the seed notebook: simple_rnn_cell/kernel, recurrent_kernel, bias.
const Array<float> notebook_kernel = {{-0.8766506f, 0.9172727f},
                                      {-0.37667286f, 0.6936799f},
                                      {-0.44308627f, -0.71843755f},
                                      {-0.627252f, 0.8343315f},
                                      {-0.00902045f, 0.08299422f}};
const Array<float> notebook_recurrent_kernel = {{0.57300806f, -0.8195498f},
                                                {0.8195498f, 0.573008f}};
const Array<float> notebook_bias = {0.f, 0.f};

// In [9] of the seed notebook: the layer's output for x_seq.
const Array<float> notebook_output = {{{-0.98134404f, 0.94781566f},
                                       {-0.9997276f, 0.999903f},
                                       {-0.99999744f, 0.9999977f}}};

std::string str(const Array<float>& a) { return xgrad::format_array(a); }

void cell(const char* label) { std::cout << "\nIn [" << label << "]:\n"; }

}  // namespace

int main() {
  namespace nn = xgrad::nn;
  xgrad::manual_seed(1);  // tf.random.set_seed(1)

  cell("2-3");  // SimpleRNN(units=2, use_bias=True, return_sequences=True).build((None, None, 5))
  nn::SimpleRNN rnn_layer(nn::SimpleRNNOptions(2).use_bias(true).return_sequences(true));
  rnn_layer.build({-1, -1, 5});
  std::cout << "SimpleRNN(units=2, use_bias=True, return_sequences=True) built for (None, None, 5)\n";

  cell("4");
  std::cout << "w_xh shape: " << xgrad::shape_to_string(rnn_layer.kernel().shape()) << "\n";
  std::cout << "w_oo shape: " << xgrad::shape_to_string(rnn_layer.recurrent_kernel().shape()) << "\n";
  std::cout << "b_h shape: " << xgrad::shape_to_string(rnn_layer.bias().shape()) << "\n";

  cell("5");  // the notebook's weights, loaded so the numbers below match it
  rnn_layer.set_weights({notebook_kernel, notebook_recurrent_kernel, notebook_bias});
  Variable<float> w_xh = rnn_layer.kernel();
  Variable<float> w_oo = rnn_layer.recurrent_kernel();
  Variable<float> b_h = rnn_layer.bias();
  std::cout << "weights set to the notebook's In [5] values\n";

  cell("6");
  std::cout << "The weights of input to hidden layer:w_xh\n" << str(w_xh.value()) << "\n";
  std::cout << "\nThe weights of output to output layer:w_oo\n" << str(w_oo.value()) << "\n";
  std::cout << "\nThe weights of bias of hidden layer:b_h\n" << str(b_h.value()) << "\n";

  cell("7");
  const Array<float> x_seq = {{1.f, 1.f, 1.f, 1.f, 1.f}, {2.f, 2.f, 2.f, 2.f, 2.f}, {3.f, 3.f, 3.f, 3.f, 3.f}};
  std::cout << "Input:\n" << str(x_seq) << ", shape=" << xgrad::shape_to_string(x_seq.shape())
            << ", dtype=float32\n";

  cell("8-9");  // output = rnn_layer(tf.reshape(x_seq, shape=(1, 3, 5)))
  Variable<float> output = rnn_layer(Variable<float>(xgrad::reshaped(x_seq, {1, 3, 5})));
  std::cout << "output: shape=" << xgrad::shape_to_string(output.shape()) << ", dtype=float32\n"
            << str(output.value()) << "\n";
  const float golden_error = xt::amax(xt::abs(output.value() - notebook_output))();
  std::cout << "largest difference from the notebook's In [9]: " << golden_error << "\n";

  cell("22");  // the same steps by hand: matmul + add + tanh
  std::vector<Variable<float>> out_man;
  for (std::size_t t = 0; t < x_seq.shape()[0]; ++t) {
    std::cout << "\n\n\ntimestep t= " << t << "\n";
    // xt = tf.reshape(x_seq[t], (1, 5))
    Variable<float> x_t = xgrad::reshape(xgrad::select(Variable<float>(x_seq), 0, t), {1, 5});
    std::cout << "Time step " << t << "=>\n";
    std::cout << "Input xt= : " << str(x_t.value()) << "\n";
    std::cout << "\n w_xh : " << str(w_xh.value()) << "\n";
    std::cout << "\nb_h : " << str(b_h.value()) << "\n";

    Variable<float> ht = xgrad::matmul(x_t, w_xh) + b_h;
    std::cout << "\nht=xt*w_xh+b_h : " << str(ht.value()) << "\n";

    Variable<float> prev_o(xgrad::zeros<float>(xgrad::to_shape(ht.shape())));
    if (t > 0) {
      prev_o = out_man[t - 1];
      std::cout << "\nprev_o= " << str(prev_o.value()) << "\n";
    }
    std::cout << "\nht = " << str(ht.value()) << "\n";
    Variable<float> ot = ht + xgrad::matmul(prev_o, w_oo);
    std::cout << "\not = ht+prev_o*w_oo before tanh = " << str(ot.value()) << "\n";
    ot = xgrad::tanh(ot);
    out_man.push_back(ot);
    std::cout << "\noutput (manual)@ timestep " << t << " : " << str(ot.value()) << "\n";
  }
  std::cout << "\n\nSimpleRNN output:\n"
            << str(xgrad::select(output, 0, 0).value()) << "\n";
  const Variable<float> manual = xgrad::reshape(xgrad::stack(out_man, 1), {1, 3, 2});
  const float manual_error = xt::amax(xt::abs(manual.value() - output.value()))();
  std::cout << "\nlargest difference between the manual and the layer outputs: " << manual_error
            << "\n";

  cell("beyond");  // d sum(output) / d weights, and the float64 gradient check
  rnn_layer.zero_grad();
  xgrad::sum(output).backward();
  std::cout << "gradient of sum(output) with respect to w_xh:\n" << str(w_xh.grad()) << "\n";
  std::cout << "\nwith respect to w_oo:\n" << str(w_oo.grad()) << "\n";
  std::cout << "\nwith respect to b_h:\n" << str(b_h.grad()) << "\n";

  nn::SimpleRNN<double> rnn64(nn::SimpleRNNOptions(2).return_sequences(true));
  rnn64.set_weights({xt::cast<double>(notebook_kernel), xt::cast<double>(notebook_recurrent_kernel),
                     xt::cast<double>(notebook_bias)});
  const Variable<double> x64(xt::cast<double>(xgrad::reshaped(x_seq, {1, 3, 5})));
  const auto verdict = xgrad::gradcheck(
      [&](const std::vector<Variable<double>>&) { return xgrad::sum(rnn64(x64)); },
      rnn64.parameters());
  std::cout << "\ngradcheck (float64, central differences) of sum(output) with respect to "
               "kernel, recurrent_kernel, bias:\n"
            << verdict.summary() << "\n";

  const bool ok = golden_error <= 1e-6f && manual_error <= 1e-6f && verdict.passed;
  std::cout << "\n" << (ok ? "notebook reproduced" : "MISMATCH with the notebook") << "\n";
  return ok ? 0 : 1;
}
