"""Generation: the key/value cache and batching change nothing (the same tokens as running the whole
sequence again, one prompt at a time), greedy decoding agrees with transformers' ``generate`` on the
same weights, and top-k / top-p keep the tokens that transformers' logits warpers keep."""

import pytest
import torch

from scratchml.bpe import Tokenizer
from scratchml.errors import ScratchMLError
from scratchml.llm.generate import Sampling, filter_logits, generate
from scratchml.llm.hf import export_hf
from scratchml.llm.model import GPT, GPTConfig

PROMPTS = [[9, 3, 5, 7, 11, 2], [9], [9, 40, 41], [9, 13, 13, 13, 13, 13, 13, 13, 13, 20]]


def tiny_gpt(seed=0, vocab=64, eot=9):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab, context=48, d_model=32, n_layers=2, n_heads=4, eot_id=eot)).eval()


@pytest.mark.parametrize("sampling", [Sampling(greedy=True), Sampling(temperature=1.3),
                                      Sampling(temperature=0.8, top_k=10, top_p=0.9)])
def test_the_cache_and_the_batch_give_the_tokens_of_recomputing_each_prompt_alone(sampling):
    model = tiny_gpt().double()  # float64: the three ways add the same numbers in different orders

    def run(prompts, use_cache):
        return generate(model, prompts, 20, sampling, torch.Generator().manual_seed(7), use_cache=use_cache)

    batched = run(PROMPTS, use_cache=True)
    assert batched == run(PROMPTS, use_cache=False)
    assert any(len(row) > 5 for row in batched)
    if sampling.greedy:  # sampling draws from one generator in batch order, so only greedy can go one by one
        assert batched == [run([p], use_cache=True)[0] for p in PROMPTS]


def test_the_static_cache_gives_the_logits_of_recomputing_padded_prompts():
    from scratchml.llm.generate import left_padded
    model = tiny_gpt().double()
    ids, mask = left_padded([p + [5, 6, 7] for p in PROMPTS], model.cfg.eot_id, "cpu")  # (4, 13)
    full = model(ids, mask)
    cache = model.new_cache(static=True)
    steps = [model(ids[:, :10], mask[:, :10], cache)] + [model(ids[:, t:t + 1], mask[:, :t + 1], cache)
                                                         for t in range(10, 13)]
    real = mask.bool()  # the logits of padding positions are never read
    assert torch.allclose(torch.cat(steps, dim=1)[real], full[real], atol=1e-10)


def test_bfloat16_generation_stays_close_to_float32_and_leaves_the_model_as_it_was():
    model = tiny_gpt().train()
    prompt = torch.tensor([PROMPTS[0]])
    with torch.no_grad():
        want = model.eval()(prompt)[0, -1]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            cache = model.new_cache(static=True)
            model(prompt[:, :-1], None, cache)  # all of the prompt but its last token, into the cache
            got = model(prompt[:, -1:], None, cache)[0, -1].float()
    assert got.dtype == torch.float32 and not torch.equal(got, want)  # computed in bfloat16 ...
    assert torch.allclose(got, want, atol=2e-2)                        # ... and close to float32
    model.train()
    out = generate(model, PROMPTS, 12, Sampling(temperature=0.9), torch.Generator().manual_seed(1), bf16=True)
    again = generate(model, PROMPTS, 12, Sampling(temperature=0.9), torch.Generator().manual_seed(1), bf16=True)
    assert out == again and any(out)
    assert model.training and all(p.dtype == torch.float32 and p.grad is None for p in model.parameters())


def test_greedy_generation_equals_transformers_generate(tmp_path):
    transformers = pytest.importorskip("transformers", reason="the reference generate() is transformers'")
    tok = Tokenizer.train(["a movie about movies, the best movie of all"] * 4, 280, ["<|endoftext|>"], progress=False)
    torch.manual_seed(3)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, context=48, d_model=32, n_layers=2, n_heads=4,
                          eot_id=tok.special_tokens["<|endoftext|>"])).eval()
    export_hf(model, tok, tmp_path)
    theirs = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    prompt = [model.cfg.eot_id] + tok.encode("a movie")
    ours = generate(model, [prompt], 30, Sampling(greedy=True))[0]
    ref = theirs.generate(torch.tensor([prompt]), max_new_tokens=30, do_sample=False, eos_token_id=model.cfg.eot_id,
                          pad_token_id=model.cfg.eot_id)[0, len(prompt):].tolist()
    assert ours == [t for t in ref if t != model.cfg.eot_id][:len(ours)] and len(ours) > 0
    if model.cfg.eot_id in ref:
        assert ref.index(model.cfg.eot_id) == len(ours)


@pytest.mark.parametrize("top_k,top_p", [(5, 1.0), (0, 0.5), (0, 0.95), (20, 0.8), (1, 1.0), (0, 0.01)])
def test_top_k_and_top_p_keep_the_tokens_transformers_keeps(top_k, top_p):
    transformers = pytest.importorskip("transformers", reason="the reference warpers are transformers'")
    logits = torch.randn(6, 50, generator=torch.Generator().manual_seed(0)) * 3
    ref = logits.clone()
    if top_k:
        ref = transformers.TopKLogitsWarper(top_k)(None, ref)
    if top_p < 1:
        ref = transformers.TopPLogitsWarper(top_p)(None, ref)
    ours = filter_logits(logits, top_k, top_p)
    assert torch.equal(torch.isinf(ours), torch.isinf(ref))


def test_rows_stop_at_the_end_of_text_token_and_streaming_sees_every_token():
    model = tiny_gpt()
    with torch.no_grad():
        model.ln.bias.zero_()
        model.ln.weight.zero_()
        model.ln.bias[0] = 1.0  # every logit is tokens.weight[v, 0]: make end-of-text the likeliest
        model.tokens.weight[:, 0] = 0.0
        model.tokens.weight[9, 0] = 10.0
    streamed = []
    out = generate(model, PROMPTS, 10, Sampling(greedy=True), on_token=lambda row, t: streamed.append((row, t)))
    assert out == [[], [], [], []] and streamed == []


@pytest.mark.parametrize("kwargs,message", [
    (dict(sampling=Sampling(temperature=0)), "temperature must be above 0"),
    (dict(sampling=Sampling(top_p=0)), "top-p must be in"), (dict(sampling=Sampling(top_p=1.5)), "top-p must be in"),
    (dict(sampling=Sampling(top_k=-1)), "top-k must be"), (dict(max_new_tokens=0), "at least 1"),
    (dict(max_new_tokens=45), "exceed the model's context of 48"), (dict(prompts=[[]]), "at least one token"),
])
def test_bad_settings_are_clear_errors(kwargs, message):
    args = dict(prompts=PROMPTS, max_new_tokens=5) | kwargs
    with pytest.raises(ScratchMLError, match=message):
        generate(tiny_gpt(), **args)
