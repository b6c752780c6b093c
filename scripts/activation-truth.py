# float64 truth of the activations at sample points, in 60-digit arithmetic (mpmath), for
# test/activation.test.ts. Regenerate: python3 scripts/activation-truth.py > test/fixtures/activation-float64.json
import json, random
import mpmath as mp
mp.mp.dps = 60
random.seed(10)
xs = set()
for _ in range(1500): xs.add(random.uniform(-12, 12))
for _ in range(500): xs.add(random.uniform(-40, 40))
for _ in range(300): xs.add(-random.uniform(30, 760))
for k in range(-320, 3):
    for m in (1.0, 3.7):
        xs.add(m * 10.0 ** k); xs.add(-m * 10.0 ** k)
xs = sorted(xs)
def silu(x): return x / (1 + mp.exp(-x))
def gelu(x): return x * (1 + mp.erf(x / mp.sqrt(2))) / 2 if x >= 0 else x * mp.erfc(-x / mp.sqrt(2)) / 2
def gelu_tanh(x):
    u = mp.sqrt(2 / mp.pi) * (x + mp.mpf('0.044715') * x ** 3)
    return x / (1 + mp.exp(-2 * u))
out = {'x': xs}
for name, f in (('silu', silu), ('gelu', gelu), ('gelu-tanh', gelu_tanh)):
    out[name] = [float(f(mp.mpf(x))) for x in xs]
print(json.dumps(out))
