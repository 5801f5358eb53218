/* F32 FMA peak of one core: 12 independent FMA chains of ymm, then of zmm, 3 rounds each (build with -O3 -funroll-all-loops -march=x86-64-v4, as scripts/bench-f32-roofline.sh does). */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(){
  __m256 a[12]; __m256 b=_mm256_set1_ps(0.999f), c=_mm256_set1_ps(0.001f);
  for(int i=0;i<12;i++)a[i]=_mm256_set1_ps(i);
  long n=400000000L/12;
  for (int rep=0;rep<3;rep++){
  double t=now();
  for(long k=0;k<n;k++){ for(int i=0;i<12;i++) a[i]=_mm256_fmadd_ps(a[i],b,c);}
  t=now()-t; printf("ymm: %.1f GFLOP/s\n", n*12*16.0/t/1e9);}
  __m512 z[12]; __m512 zb=_mm512_set1_ps(0.999f), zc=_mm512_set1_ps(0.001f);
  for(int i=0;i<12;i++)z[i]=_mm512_set1_ps(i);
  for (int rep=0;rep<3;rep++){
  double t=now();
  for(long k=0;k<n;k++){ for(int i=0;i<12;i++) z[i]=_mm512_fmadd_ps(z[i],zb,zc);}
  t=now()-t; printf("zmm: %.1f GFLOP/s\n", n*12*32.0/t/1e9);}
  float s=0; float o[16]; for(int i=0;i<12;i++){_mm256_storeu_ps(o,a[i]);s+=o[0];_mm512_storeu_ps(o,z[i]);s+=o[0];} printf("%f\n",s);
}
