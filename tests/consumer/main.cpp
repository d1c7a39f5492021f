// Runs a SimpleRNN forward and backward, and a Trainer's fit, through the
// installed xgrad.
#include <cstdio>

#include <xgrad/xgrad.hpp>

int main() {
  xgrad::manual_seed(1);
  xgrad::nn::SimpleRNN rnn(xgrad::nn::SimpleRNNOptions(2).return_sequences(true));
  xgrad::Variable x(xgrad::uniform<float>({1, 3, 5}, -1.0f, 1.0f));
  auto loss = xgrad::sum(rnn(x));
  loss.backward();
  const auto& g = rnn.kernel().grad();
  if (g.shape()[0] != 5 || g.shape()[1] != 2) return 1;

  xgrad::nn::Dense<float> dense(xgrad::nn::DenseOptions(1));
  dense.build({-1, 5});
  xgrad::nn::SGD<float> sgd(dense.parameters());
  xgrad::nn::Trainer<float> trainer(dense, sgd, "mse");
  const auto history = trainer.fit(xgrad::ones<float>({4, 5}), xgrad::zeros<float>({4, 1}),
                                   xgrad::nn::FitOptions().epochs(2).verbose(0));
  if (history.size() != 2) return 1;
  std::printf("consumer ok: loss %s\n", xgrad::format_array(loss.value()).c_str());
  return 0;
}
