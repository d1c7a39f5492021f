// The smallest useful training loop: a SimpleRNN + Dense learns to output the
// mean of each input sequence. README.md quotes this file whole.
#include <iostream>
#include <memory>

#include <xgrad/xgrad.hpp>

int main() {
  namespace nn = xgrad::nn;
  using xgrad::Variable;
  xgrad::manual_seed(0);

  // Data: 512 sequences [N, T, F] = [512, 10, 1], target = the sequence's mean.
  xgrad::Array<float> x = xgrad::uniform<float>({512, 10, 1}, -1.f, 1.f);
  xgrad::Array<float> y = xt::mean(x, {1});  // [512, 1]

  nn::Sequential<float> model;
  model.add(std::make_shared<nn::SimpleRNN<float>>(nn::SimpleRNNOptions(16)));
  model.add(std::make_shared<nn::Dense<float>>(nn::DenseOptions(1)));
  model.build({-1, 10, 1});  // creates the weights, so the optimizer sees them

  nn::Adam<float> optimizer(model.parameters(), nn::AdamOptions().learning_rate(1e-2));
  nn::DataLoader<float> loader(x, y, nn::DataLoaderOptions(32));

  for (int epoch = 1; epoch <= 10; ++epoch) {
    double total = 0;
    for (auto& batch : loader.epoch()) {
      Variable<float> loss = nn::mean_squared_error(model(Variable<float>(batch.inputs)),
                                                    Variable<float>(batch.targets));
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      total += loss.value()() * static_cast<double>(batch.indices.size());
    }
    std::cout << "epoch " << epoch << ": loss " << total / 512 << "\n";
  }
  nn::save(model, "minimal_training.npz");
}
