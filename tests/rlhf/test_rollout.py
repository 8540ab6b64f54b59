import torch
import torch.nn.functional as F

from scratchml.rlhf.rollout import entropy, pack, response_logits, sample, token_logprobs


def alone(model, prompt, continuation, temperature):
    """log p of each continuation token, running the unpadded sequence by itself."""
    ids = torch.tensor([prompt + continuation])
    logits = model(ids)[0, len(prompt) - 1:-1] / temperature
    return F.log_softmax(logits, -1).gather(-1, torch.tensor(continuation)[:, None]).squeeze(-1)


def test_packed_log_probabilities_equal_each_sequence_run_alone(tiny):
    model, tok = tiny
    eot = model.cfg.eot_id
    prompts = [[eot, 5, 6, 7], [eot, 9], [eot, 10, 11]]
    continuations = [[20, 21], [22, 23, 24, 25, eot], [26]]
    packed = pack(prompts, continuations, eot)
    with torch.no_grad():
        for temperature in (1.0, 0.7):
            logits = response_logits(model, packed, temperature)
            logp = token_logprobs(logits, packed)
            for row, (p, c) in enumerate(zip(prompts, continuations)):
                torch.testing.assert_close(logp[row, :len(c)], alone(model, p, c, temperature), atol=1e-5, rtol=1e-5)
                assert (logp[row, len(c):] == 0).all()
            assert 0 < entropy(logits, packed).item() < torch.log(torch.tensor(float(model.cfg.vocab_size))).item()


def test_a_row_that_stops_keeps_its_end_of_text_token_as_an_action(tiny):
    model, tok = tiny
    eot = model.cfg.eot_id
    with torch.no_grad():  # every logit becomes tokens.weight[v, 0]: make end-of-text by far the likeliest
        model.ln.weight.zero_()
        model.ln.bias.zero_()
        model.ln.bias[0] = 1.0
        model.tokens.weight[:, 0] = 0.0
        model.tokens.weight[eot, 0] = 30.0
    roll = sample(model, tok, [[eot] + tok.encode("Good fun")], 6, generator=torch.Generator().manual_seed(0))
    assert roll.continuations == [[eot]] and roll.texts == ["Good fun"]
