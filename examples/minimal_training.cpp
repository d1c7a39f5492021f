// The smallest useful training script: a SimpleRNN + Dense learns to output
// the mean of each input sequence. README.md quotes this file whole.
#include <iostream>
#include <memory>

#include <xgrad/xgrad.hpp>

int main() {
  namespace nn = xgrad::nn;
  xgrad::manual_seed(0);

  // Data: 512 sequences [N, T, F] = [512, 10, 1], target = the sequence's mean.
  xgrad::Array<float> x = xgrad::uniform<float>({512, 10, 1}, -1.f, 1.f);
  xgrad::Array<float> y = xt::mean(x, {1});  // [512, 1]

  nn::Sequential<float> model;
  model.add(std::make_shared<nn::SimpleRNN<float>>(nn::SimpleRNNOptions(16)));
  model.add(std::make_shared<nn::Dense<float>>(nn::DenseOptions(1)));
  model.build({-1, 10, 1});  // creates the weights, so the optimizer sees them
  std::cout << nn::summary(model);

  nn::Adam<float> optimizer(model.parameters(), nn::AdamOptions().learning_rate(1e-2));
  nn::Trainer<float> trainer(model, optimizer, "mean_squared_error", {nn::make_metric("mae")});
  nn::History history = trainer.fit(x, y, nn::FitOptions().epochs(10).batch_size(32));
  std::cout << "final loss " << history.values("loss").back() << "\n";
  nn::save(model, "minimal_training.npz");
}
