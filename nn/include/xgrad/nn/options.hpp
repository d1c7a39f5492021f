#pragma once
// XGRAD_ARG declares one option of an options struct: a chained setter and a
// getter with the same name, and the stored member with its default, as the
// torch C++ frontend's TORCH_ARG does:
//   struct DenseOptions { XGRAD_ARG(bool, use_bias) = true; };
//   DenseOptions().use_bias(false).use_bias()  // == false

#define XGRAD_ARG(TYPE, NAME)                                    \
 public:                                                         \
  auto& NAME(const TYPE& new_##NAME) {                           \
    this->NAME##_ = new_##NAME;                                  \
    return *this;                                                \
  }                                                              \
  const TYPE& NAME() const noexcept { return this->NAME##_; }    \
                                                                 \
 private:                                                        \
  TYPE NAME##_
